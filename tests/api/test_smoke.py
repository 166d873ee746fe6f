async def test_login_and_store_list(rpc, users):
    session = await rpc.login(users["merchant"])
    stores = await rpc.result(session, "store.list")
    assert [s["code"] for s in stores] == ["default"]
