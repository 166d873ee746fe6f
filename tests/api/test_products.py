"""product.create / info / update / search through the real app and database."""

from __future__ import annotations

import pytest

from tests.api.catalog_helpers import call_concurrently, create_product, events_of, fault_code, login_all, product_row

NOT_FOUND = {"code": fault_code(101), "message": "Product not exists."}


@pytest.fixture
async def sessions(rpc, users):
    return await login_all(rpc, users)


async def test_create_then_info(rpc, sessions, db):
    session = sessions["merchant"]
    data = {
        "name": "Blue Widget",
        "barcode": "0001,0002",
        "vendor_sku": "V-1",
        "external_id": 632910392,
        "weight": 1.75,
        "weight_unit": "oz",
        "length": 123,
        "width": "100.5",
        "height": 28,
        "dimension_unit": "cm",
        "goods_type": "ORM_D",
        "customs_value": "24.56",
        "customs_value_currency": "USD",
        "country_of_manufacture": "DK",
        "hts_base_code": 1234.56,
        "hts_country_code": "BH:1000|ZW:1001",
        "requires_packaging": 1,
        "valid_containers": ["box-1"],
        "unit_qty": 5,
    }
    assert await rpc.result(session, "product.create", ["BW-1", data]) is True

    info = await rpc.result(session, "product.info", ["BW-1"])
    row = await product_row(db, "BW-1")
    assert info == {
        "product_id": row["product_id"],
        "sku": "BW-1",
        "name": "Blue Widget",
        "barcode": "0001,0002",
        "vendor_sku": "V-1",
        "external_id": "632910392",
        "status": 1,
        # Numbers, as the docs show them (the old answer was decimal strings).
        "weight": 1.75,
        "weight_unit": "oz",
        "length": 123,
        "width": 100.5,
        "height": 28,
        "dimension_unit": "cm",
        "export_description": None,
        "goods_type": "ORM_D",
        "availability": 1,
        "visibility": 2,
        "freight_class": None,
        "freight_category": None,
        "customs_value": "24.5600",
        "customs_value_currency": "USD",
        "country_of_manufacture": "DK",
        "hts_base_code": 1234.56,
        "hts_country_code": [{"country_id": "BH", "extension": "1000"}, {"country_id": "ZW", "extension": "1001"}],
        "requires_packaging": 1,
        "can_contain_other_items": 0,
        "confirmation_per_item": 0,
        "valid_containers": ["box-1"],
        "special_supplies": [],
        "special_other": [],
        "unit_qty": 5,
        "created_at": info["created_at"],
        "updated_at": info["updated_at"],
    }
    assert info["created_at"].endswith("+00:00") and len(info["created_at"]) == 25

    # The row: own columns, barcodes as an array, the rest in attributes.
    assert row["barcodes"] == ["0001", "0002"]
    assert str(row["weight"]) == "1.7500" and row["status"] == 1
    assert row["attributes"] == {
        "goods_type": "ORM_D",
        "customs_value": "24.5600",
        "customs_value_currency": "USD",
        "country_of_manufacture": "DK",
        "hts_base_code": "1234.56",
        "hts_country_code": [{"country_id": "BH", "extension": "1000"}, {"country_id": "ZW", "extension": "1001"}],
        "requires_packaging": 1,
        "valid_containers": ["box-1"],
        "unit_qty": 5,
    }

    # product:created, in the same transaction: the product as info shows it.
    created = await events_of(db, "product:created")
    assert len(created) == 1
    assert created[0]["merchant_code"] == "acme"
    assert created[0]["message"] == info


async def test_create_minimal_product_gets_defaults(rpc, sessions):
    await create_product(rpc, sessions["admin"], "MIN-1", name="Minimal")
    info = await rpc.result(sessions["admin"], "product.info", "MIN-1")  # a bare scalar argument
    assert info["status"] == 1 and info["weight_unit"] == "lb" and info["dimension_unit"] == "in"
    assert info["barcode"] is None and info["weight"] is None and info["goods_type"] == "NORMAL"


async def test_create_with_named_arguments(rpc, sessions):
    assert await rpc.result(sessions["merchant"], "product.create", {"sku": "NAMED", "data": {"name": "n"}}) is True
    assert (await rpc.result(sessions["merchant"], "product.info", {"sku": "NAMED"}))["name"] == "n"


async def test_sku_is_at_most_64_characters(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "S" * 64)
    error = await rpc.fault(sessions["merchant"], "product.create", ["S" * 65, {"name": "x"}])
    assert error == {"code": fault_code(102), "message": "Invalid data given: 'sku' must be at most 64 characters (got 65)"}
    assert await db.fetchval("SELECT count(*) FROM products") == 1


@pytest.mark.parametrize(
    "sku, message",
    [
        ("", "Invalid data given: 'sku' must not be empty"),
        (" A", "Invalid data given: 'sku' must not start or end with spaces"),
        ({"a": 1}, "Invalid data given: 'sku' must be a string, not an object"),
    ],
)
async def test_bad_sku_on_create(rpc, sessions, sku, message):
    error = await rpc.fault(sessions["merchant"], "product.create", [sku, {"name": "x"}])
    assert error == {"code": fault_code(102), "message": message}


async def test_missing_arguments_are_fault_6(rpc, sessions):
    error = await rpc.fault(sessions["merchant"], "product.create", ["ONLY-SKU"])
    assert error["code"] == fault_code(6) and "data" in error["data"]
    error = await rpc.fault(sessions["merchant"], "product.info", [])
    assert error["code"] == fault_code(6) and "sku" in error["data"]


async def test_duplicate_sku_is_fault_107_and_writes_nothing(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "DUP", name="First")
    error = await rpc.fault(sessions["merchant"], "product.create", ["DUP", {"name": "Second"}])
    assert error["code"] == fault_code(107)
    assert error["message"] == "Another product with this SKU already exists."
    assert "DUP" in error["data"]
    assert (await product_row(db, "DUP"))["name"] == "First"
    assert len(await events_of(db, "product:created")) == 1


async def test_concurrent_creates_of_one_sku_make_one_product(rpc, sessions, db):
    bodies = await call_concurrently(rpc, sessions["merchant"], "product.create", [["RACE", {"name": f"n{i}"}] for i in range(8)])
    assert sum("result" in body for body in bodies) == 1
    assert all(body["error"]["code"] == fault_code(107) for body in bodies if "error" in body)
    assert await db.fetchval("SELECT count(*) FROM products WHERE sku = 'RACE'") == 1
    assert len(await events_of(db, "product:created")) == 1


async def test_same_sku_in_two_merchants(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "SHARED", name="Acme's")
    await create_product(rpc, sessions["other"], "SHARED", name="Other's")
    assert (await rpc.result(sessions["merchant"], "product.info", ["SHARED"]))["name"] == "Acme's"
    assert (await rpc.result(sessions["other"], "product.info", ["SHARED"]))["name"] == "Other's"
    assert [e["merchant_code"] for e in await events_of(db, "product:created")] == ["acme", "other"]


async def test_invalid_data_names_every_field_and_writes_nothing(rpc, sessions, db):
    error = await rpc.fault(
        sessions["merchant"], "product.create", ["BAD", {"name": "x", "weight": -2, "status": 9, "colour": "red"}]
    )
    assert error == {
        "code": fault_code(102),
        "message": "Invalid data given: 'status' must be 1 (enabled) or 2 (disabled), or \"enabled\" / \"disabled\" "
        "(got '9'); 'weight' must not be negative; 'colour' is not a product property",
    }
    assert await db.fetchval("SELECT count(*) FROM products") == 0
    assert await events_of(db) == []


async def test_create_without_name(rpc, sessions):
    error = await rpc.fault(sessions["merchant"], "product.create", ["NONAME", {"weight": 1}])
    assert error == {"code": fault_code(102), "message": "Invalid data given: 'name' is required"}


async def test_create_data_must_be_an_object(rpc, sessions):
    error = await rpc.fault(sessions["merchant"], "product.create", ["X", "name=x"])
    assert error == {
        "code": fault_code(102),
        "message": "Invalid data given: data must be an object of product properties, not a string",
    }


async def test_info_of_unknown_or_other_merchants_product_is_101(rpc, sessions):
    await create_product(rpc, sessions["other"], "THEIRS")
    for sku in ("NOPE", "THEIRS"):
        error = await rpc.fault(sessions["merchant"], "product.info", [sku])
        assert {k: error[k] for k in ("code", "message")} == NOT_FOUND
    error = await rpc.fault(sessions["merchant"], "product.info", [["A"]])
    assert {k: error[k] for k in ("code", "message")} == NOT_FOUND


async def test_update_changes_given_fields_only(rpc, sessions, db):
    session = sessions["merchant"]
    await create_product(rpc, session, "UP-1", name="Old", barcode="1,2", weight=2, goods_type="HAZMAT", unit_qty=3)
    before = await rpc.result(session, "product.info", ["UP-1"])
    await db.execute("UPDATE products SET updated_at = updated_at - interval '1 hour'")

    assert await rpc.result(session, "product.update", ["UP-1", {"name": "New", "barcode": "3", "unit_qty": None, "status": "disabled"}]) is True

    after = await rpc.result(session, "product.info", ["UP-1"])
    assert after["name"] == "New" and after["barcode"] == "3" and after["status"] == 2
    assert after["unit_qty"] is None  # a null attribute is removed
    assert after["weight"] == 2 and after["goods_type"] == "HAZMAT"  # untouched
    assert after["created_at"] == before["created_at"] and after["updated_at"] >= before["updated_at"]
    row = await product_row(db, "UP-1")
    assert row["attributes"] == {"goods_type": "HAZMAT"}
    assert row["barcodes"] == ["3"] and row["status"] == 2
    assert row["updated_at"] > row["created_at"]

    updated = await events_of(db, "product:updated")
    assert len(updated) == 1 and updated[0]["message"] == after


async def test_update_clears_nullable_columns(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "CLR", vendor_sku="V", weight=1, length=2, external_id="E")
    assert await rpc.result(
        sessions["merchant"], "product.update", ["CLR", {"vendor_sku": None, "weight": None, "length": None, "external_id": ""}]
    ) is True
    row = await product_row(db, "CLR")
    assert row["vendor_sku"] is None and row["weight"] is None and row["external_id"] is None


async def test_update_with_bad_length_value(rpc, sessions):
    await create_product(rpc, sessions["merchant"], "LEN")
    error = await rpc.fault(sessions["merchant"], "product.update", ["LEN", {"length": ""}])
    assert error == {"code": fault_code(102), "message": "Invalid data given: 'length' must be a number written with the digits 0-9, not ''"}


async def test_update_empty_data_changes_nothing(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "SAME")
    before = await product_row(db, "SAME")
    assert await rpc.result(sessions["merchant"], "product.update", ["SAME", {}]) is True
    assert await rpc.result(sessions["merchant"], "product.update", ["SAME", []]) is True
    assert (await product_row(db, "SAME"))["updated_at"] == before["updated_at"]
    assert await events_of(db, "product:updated") == []


async def test_update_unknown_or_other_merchants_product_is_101(rpc, sessions, db):
    await create_product(rpc, sessions["other"], "THEIRS", name="Theirs")
    for sku, data in (("NOPE", {"name": "x"}), ("THEIRS", {"name": "Hijacked"}), ("NOPE", {})):
        error = await rpc.fault(sessions["merchant"], "product.update", [sku, data])
        assert {k: error[k] for k in ("code", "message")} == NOT_FOUND
    assert (await product_row(db, "THEIRS", "other"))["name"] == "Theirs"
    assert await events_of(db, "product:updated") == []


async def test_update_invalid_data_changes_nothing(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "KEEP", name="Keep")
    error = await rpc.fault(sessions["merchant"], "product.update", ["KEEP", {"name": "Changed", "sku_alias": "x"}])
    assert error == {"code": fault_code(102), "message": "Invalid data given: 'sku_alias' is not a product property"}
    error = await rpc.fault(sessions["merchant"], "product.update", ["KEEP", {"sku": "RENAMED"}])
    assert error["code"] == fault_code(102) and "SKUs cannot be changed" in error["message"]
    assert (await product_row(db, "KEEP"))["name"] == "Keep"
    assert await events_of(db, "product:updated") == []


async def test_roles(rpc, sessions):
    await create_product(rpc, sessions["admin"], "ROLE")  # admin may write
    for method, args in (("product.create", ["W-1", {"name": "x"}]), ("product.update", ["ROLE", {"name": "y"}])):
        error = await rpc.fault(sessions["warehouse"], method, args)
        assert error["code"] == fault_code(2) and error["message"] == "Access denied."
    # everyone may read
    assert (await rpc.result(sessions["warehouse"], "product.info", ["ROLE"]))["sku"] == "ROLE"
    assert len(await rpc.result(sessions["warehouse"], "product.search")) == 1


# -- product.search ------------------------------------------------------------------------------


@pytest.fixture
async def catalog(rpc, sessions, db):
    """Acme: A-1..A-5 and B-1, B-2 with a few distinguishing properties; Other: A-1."""
    session = sessions["merchant"]
    await create_product(rpc, session, "A-1", name="Apple", barcode="111,999", vendor_sku="VA")
    await create_product(rpc, session, "A-2", name="Apricot", barcode="222", status=2)
    await create_product(rpc, session, "A-3", name="Avocado", external_id="ext-3")
    await create_product(rpc, session, "A-4", name="Almond", visibility=1)
    await create_product(rpc, session, "A-5", name="Anise_50%", availability=2)
    await create_product(rpc, session, "B-1", name="Banana", barcode="9991")
    await create_product(rpc, session, "B-2", name="Blueberry")
    await create_product(rpc, sessions["other"], "A-1", name="Not acme's")
    # spread the creation times: A-1 oldest ... B-2 newest, a day apart
    await db.execute(
        """UPDATE products SET created_at = timestamptz '2024-01-01 12:00+00' + (rpcf_id_position(product_id) - 1) * interval '1 day',
                               updated_at = timestamptz '2024-01-01 12:00+00' + (rpcf_id_position(product_id) - 1) * interval '1 day'"""
    )
    return session


# The order the catalog was made in (product ids are not: README, "Ids").
CREATED = {"sort_field": "created_at"}


async def search_skus(rpc, session, filters=None, options=None) -> list[str]:
    return [product["sku"] for product in await rpc.result(session, "product.search", [filters, {**CREATED, **(options or {})}])]


async def test_search_answers_the_documented_plain_array(rpc, catalog):
    """A plain array of products (the old answer was {results, totalCount, numPages})."""
    result = await rpc.result(catalog, "product.search")
    by_id = sorted(result, key=lambda p: p["product_id"])  # the default sort: product_id
    assert [p["sku"] for p in result] == [p["sku"] for p in by_id] and len(result) == 7
    result = await rpc.result(catalog, "product.search", [None, CREATED])
    assert [p["sku"] for p in result] == ["A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "B-2"]
    assert result[0] == await rpc.result(catalog, "product.info", ["A-1"])  # full product properties


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"sku": {"eq": "A-3"}}, ["A-3"]),
        ({"sku": "A-3"}, ["A-3"]),  # a bare scalar means eq
        ({"sku": {"neq": "A-3"}}, ["A-1", "A-2", "A-4", "A-5", "B-1", "B-2"]),
        ({"sku": {"starts": "B-"}}, ["B-1", "B-2"]),
        ({"sku": {"in": ["A-1", "B-2", "ZZZ"]}}, ["A-1", "B-2"]),
        ({"sku": {"nin": ["A-1", "A-2", "A-3", "A-4", "A-5"]}}, ["B-1", "B-2"]),
        ({"name": {"starts": "Ap"}}, ["A-1", "A-2"]),
        ({"name": {"starts": "Anise_5"}}, ["A-5"]),
        ({"name": {"starts": "Anise%"}}, []),  # % is no wildcard
        ({"status": {"eq": 2}}, ["A-2"]),
        ({"status": "1", "sku": {"starts": "A"}}, ["A-1", "A-3", "A-4", "A-5"]),
        ({"availability": 2}, ["A-5"]),
        ({"visibility": {"eq": 1}}, ["A-4"]),
        ({"vendor_sku": {"eq": "VA"}}, ["A-1"]),
        ({"vendor_sku": {"notnull": 1}}, ["A-1"]),
        ({"vendor_sku": {"neq": "VA"}, "sku": {"starts": "A"}}, ["A-2", "A-3", "A-4", "A-5"]),  # nulls included
        ({"external_id": {"null": 1}, "sku": {"starts": "A"}}, ["A-1", "A-2", "A-4", "A-5"]),
        ({"barcode": {"eq": "999"}}, ["A-1"]),  # contains, exactly
        ({"barcode": "222"}, ["A-2"]),
        ({"barcode": {"in": ["222", "9991"]}}, ["A-2", "B-1"]),
        ({"barcode": {"starts": "99"}}, ["A-1", "B-1"]),
        ({"barcode": {"null": 1}}, ["A-3", "A-4", "A-5", "B-2"]),
        ({"barcode": {"nin": ["999", "222"]}}, ["A-3", "A-4", "A-5", "B-1", "B-2"]),
        ({"created_at": {"from": "2024-01-03", "to": "2024-01-04"}}, ["A-3", "A-4"]),
        ({"created_at": {"gt": "2024-01-06T12:00:00+00:00"}}, ["B-2"]),
        ({"created_at": {"lt": "2024-01-02 12:00:01", "datetime": True}}, ["A-1", "A-2"]),
        ({"created_at": "2024-01-05"}, ["A-5"]),  # a date: that whole day
        ({"updated_at": {"gteq": "2024-01-07"}}, ["B-2"]),
        ({"sku": {"in": ["A-1", "A-2"]}, "name": {"eq": "Apple"}}, ["A-1"]),
    ],
)
async def test_search_filters(rpc, catalog, filters, expected):
    assert await search_skus(rpc, catalog, filters) == expected


async def test_search_sorting_and_pages(rpc, catalog):
    options = {"sort_field": "name", "sort_dir": "desc", "limit": 3, "page": 1}
    first = await rpc.result(catalog, "product.search", [None, options])
    assert [p["name"] for p in first] == ["Blueberry", "Banana", "Avocado"]
    third = await rpc.result(catalog, "product.search", [None, {**options, "page": 3}])
    assert [p["name"] for p in third] == ["Almond"]
    assert await rpc.result(catalog, "product.search", [None, {**options, "page": 4}]) == []
    assert await search_skus(rpc, catalog, {"sku": {"starts": "A"}}, {"limit": 2, "page": 2}) == ["A-3", "A-4"]
    assert await rpc.result(catalog, "product.search", [{"sku": "none"}, {"page": 2}]) == []


async def test_search_paging_walks_every_product_once(rpc, catalog):
    seen = []
    for page in (1, 2, 3, 4):
        seen += await search_skus(rpc, catalog, None, {"sort_field": "status", "limit": 2, "page": page})
    assert sorted(seen) == ["A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "B-2"]


async def test_search_sees_only_own_products(rpc, catalog, sessions):
    other = await rpc.result(sessions["other"], "product.search", [{"sku": {"starts": "A"}}])
    assert [p["name"] for p in other] == ["Not acme's"]


@pytest.mark.parametrize(
    "filters, options, message",
    [
        ({"price": {"gt": 1}}, None, "cannot filter on 'price' (filterable: availability, barcode, created_at, external_id, "
         "name, product_id, sku, status, updated_at, vendor_sku, visibility)"),
        ({"sku": {"like": "A%"}}, None, "unknown operator 'like' for 'sku'"),
        ({"status": {"starts": "1"}}, None, "operator 'starts' does not apply to 'status'"),
        ({"status": {"eq": "enabled?"}}, None, "'status' eq: 'enabled?' is not a whole number"),
        ({"created_at": {"from": "last week"}}, None, "'created_at' from: 'last week' is not a date or date-time"),
        ({"sku": {"in": []}}, None, "'sku' in: expected a non-empty array"),
        ("sku", None, "filters must be an object"),
        (None, {"limit": 101}, "option limit must be a whole number from 1 to 100"),
        (None, {"sort_field": "barcode"}, "cannot sort on 'barcode'"),
        (None, {"sort_dir": "sideways"}, "option sort_dir must be asc or desc"),
    ],
)
async def test_search_invalid_filters_is_fault_108(rpc, catalog, filters, options, message):
    error = await rpc.fault(catalog, "product.search", [filters, options])
    assert error["code"] == fault_code(108)
    assert error["message"].startswith("Invalid filters given: ")
    assert message in error["message"]


async def test_search_huge_integer_filter_is_no_internal_error(rpc, catalog):
    assert await search_skus(rpc, catalog, {"status": {"eq": 2**62}}) == []
    assert await search_skus(rpc, catalog, {"product_id": {"in": [2**62, -5]}}) == []


@pytest.mark.parametrize("given, answered", [
    (1234.56, 1234.56), ("1234.56", 1234.56), (8471, 8471),
    ("0902.10", "0902.10"), ("0902.10.1015", "0902.10.1015"), ("1234.50", "1234.50"),
])
async def test_hts_base_code_is_a_number_unless_a_number_would_change_it(rpc, sessions, given, answered):
    await create_product(rpc, sessions["merchant"], "HTS", hts_base_code=given)
    info = await rpc.result(sessions["merchant"], "product.info", ["HTS"])
    assert info["hts_base_code"] == answered and type(info["hts_base_code"]) is type(answered)
