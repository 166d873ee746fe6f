"""The fault table: wire codes, exact messages, and where the detail goes."""

from __future__ import annotations

import pytest

from rpc_fulfillment.core.faults import FAULTS, Fault, FaultSpec

GLOBAL = {
    "unknown": (0, "Unknown Error"),
    "internal": (1, "Internal Error. Please see log for details."),
    "access_denied": (2, "Access denied."),
    "invalid_api_path": (3, "Invalid api path."),
    "resource_not_callable": (4, "Resource path is not callable."),
    "session_expired": (5, "Session expired. Try to relogin."),
    "required_parameter": (6, 'Required parameter is missing, for more details see "exception.log".'),
}


@pytest.mark.parametrize("name", sorted(GLOBAL))
def test_global_faults_exactly(name):
    number, message = GLOBAL[name]
    spec = FAULTS[name]
    assert (spec.number, spec.message) == (number, message)
    assert spec.wire_code == -(32000 + number)
    assert not spec.details_in_message


def test_every_fault_encodes_inside_shipstreams_range():
    for name, spec in FAULTS.items():
        assert spec.wire_code == -(32000 + spec.number), name
        # ShipStream's patched Zend accepts -32000 >= code > -32600.
        assert -32600 < spec.wire_code <= -32000, name


def test_wire_codes_of_the_documented_order_faults():
    assert FaultSpec(104, "An order with the specified ID already exists.").wire_code == -32104
    assert FaultSpec(5, "x").wire_code == -32005


def test_details_in_message():
    spec = FaultSpec(102, "Invalid data given. Details in error message.")
    assert spec.details_in_message
    assert not FaultSpec(104, "An order with the specified ID already exists.").details_in_message


def test_fixed_message_fault_keeps_message_and_puts_detail_in_data():
    fault = Fault("access_denied", "role 'merchant' may not call x.y")
    assert fault.number == 2 and fault.message == "Access denied."
    assert fault.data == "role 'merchant' may not call x.y"
    assert Fault("access_denied").data is None
    assert Fault("access_denied", "detail", data={"k": 1}).data == {"k": 1}


def test_details_in_message_fault_replaces_the_message(monkeypatch):
    monkeypatch.setitem(FAULTS, "test_details", FaultSpec(102, "Invalid data given. Details in error message."))
    fault = Fault("test_details", "qty must be positive")
    assert fault.message == "qty must be positive"
    assert fault.data is None  # the detail is already the message
    assert Fault("test_details").message == "Invalid data given. Details in error message."
    assert Fault("test_details", "x", data=[1]).data == [1]


def test_fault_is_an_exception_with_a_readable_str():
    fault = Fault("session_expired", "no session")
    assert isinstance(fault, Exception)
    assert str(fault) == "session_expired: no session"
    assert str(Fault("session_expired")) == "session_expired: Session expired. Try to relogin."


def test_unknown_fault_name_is_a_programming_error():
    with pytest.raises(KeyError):
        Fault("no_such_fault")
