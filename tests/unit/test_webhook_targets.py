"""Where webhooks may go when the operator does not allow private targets: the address
classification (domain.address_refusal, domain.host_refusal), the setting, and the guarded
resolver. No network beyond 127.0.0.1: the resolver tests use a stub or /etc/hosts."""

from __future__ import annotations

import pytest

from rpc_fulfillment import cli
from rpc_fulfillment.config import Settings, SettingsError, load_settings
from rpc_fulfillment.webhooks import rules as webhooks
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.workers.webhooks import GuardedResolver, RefusedTarget
from tests.api.webhook_helpers import StubResolver


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.255.0.9", "127.255.0.9 is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("10.1.2.3", "10.1.2.3 is a private address (RFC 1918)"),
        ("172.16.0.1", "172.16.0.1 is a private address (RFC 1918)"),
        ("172.31.255.254", "172.31.255.254 is a private address (RFC 1918)"),
        ("192.168.0.10", "192.168.0.10 is a private address (RFC 1918)"),
        ("fd00:ec2::254", "fd00:ec2::254 is a private address (unique local, fc00::/7)"),  # AWS metadata over IPv6
        ("169.254.169.254", "169.254.169.254 is a link-local address (where cloud metadata services live)"),
        ("fe80::1", "fe80::1 is a link-local address (where cloud metadata services live)"),
        ("0.0.0.0", "0.0.0.0 is the unspecified address"),
        ("::", ":: is the unspecified address"),
        ("224.0.0.251", "224.0.0.251 is a multicast address"),
        ("ff02::1", "ff02::1 is a multicast address"),
        ("240.0.0.1", "240.0.0.1 is a reserved address"),
        ("255.255.255.255", "255.255.255.255 is a reserved address"),
        ("fec0::1", "fec0::1 is a site-local address (fec0::/10)"),
        ("100.100.100.200", "100.100.100.200 is a shared address (100.64.0.0/10, carrier-grade NAT)"),  # Alibaba metadata
        ("192.0.2.7", "192.0.2.7 is a special-purpose address that is not globally routable"),  # TEST-NET-1
        ("2001:db8::1", "2001:db8::1 is a special-purpose address that is not globally routable"),
        # IPv6 addresses that carry an IPv4 one are judged by it too.
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1 is an IPv6 address carrying 127.0.0.1 (a loopback address)"),
        ("::ffff:169.254.169.254", "::ffff:169.254.169.254 is an IPv6 address carrying 169.254.169.254 "
                                   "(a link-local address (where cloud metadata services live))"),
        ("2002:a00:1::", "2002:a00:1:: is an IPv6 address carrying 10.0.0.1 (a private address (RFC 1918))"),
        ("64:ff9b::c0a8:101", "64:ff9b::c0a8:101 is an IPv6 address carrying 192.168.1.1 (a private address (RFC 1918))"),
        ("not-an-address", "not-an-address is not an IP address"),
    ],
)
def test_addresses_webhooks_may_not_reach(address, reason):
    assert webhooks.address_refusal(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::200e",
                                     "172.32.0.1", "100.128.0.1", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"])
def test_public_addresses_are_accepted(address):
    assert webhooks.address_refusal(address) is None


@pytest.mark.parametrize(
    "host, reason",
    [
        ("localhost", "localhost is a loopback name"),
        ("LOCALHOST.", "LOCALHOST. is a loopback name"),
        ("api.localhost", "api.localhost is a loopback name"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("[::1]", "[::1] means ::1 is a loopback address"),
        ("fe80::1%25eth0", "fe80::1%25eth0 is a link-local address (where cloud metadata services live)"),
        # The notations getaddrinfo (inet_aton) also reads as 127.0.0.1.
        ("2130706433", "2130706433 means 127.0.0.1 is a loopback address"),
        ("127.1", "127.1 means 127.0.0.1 is a loopback address"),
        ("0x7f.0.0.1", "0x7f.0.0.1 means 127.0.0.1 is a loopback address"),
        ("0177.0.0.1", "0177.0.0.1 means 127.0.0.1 is a loopback address"),
        ("0xa9.254.169.254", "0xa9.254.169.254 means 169.254.169.254 is a link-local address (where cloud metadata services live)"),
        ("①②⑦.0.0.1", "①②⑦.0.0.1 means 127.0.0.1 is a loopback address"),  # read as 127.0.0.1 after NFKC
        ("dead::beef::1", "'dead::beef::1' is not a valid address"),
    ],
)
def test_hosts_refused_as_written(host, reason):
    assert webhooks.host_refusal(host) == reason


@pytest.mark.parametrize("host", ["example.com", "hooks.example.com.", "93.184.216.34", "2606:4700:4700::1111",
                                  "localhost.example.com", "256.1.1.1", "1.2.3"])
def test_names_and_public_addresses_pass_the_written_check(host):
    # Names are checked at delivery, after DNS; "1.2.3" is 1.2.0.3, a public address.
    assert webhooks.host_refusal(host) is None


def test_parse_url_refuses_private_targets_only_when_asked():
    url = "http://169.254.169.254/latest/meta-data/"
    assert webhooks.parse_url(url) == url
    assert webhooks.parse_url(url, allow_private=True) == url
    with pytest.raises(Fault) as raised:
        webhooks.parse_url(url, allow_private=False)
    assert raised.value.name == webhooks.INVALID_DATA
    assert raised.value.detail == (
        "Invalid data given: 'url' may not point at a private network: 169.254.169.254 is a link-local address "
        "(where cloud metadata services live) ('http://169.254.169.254/latest/meta-data/'); "
        "webhooks go to public addresses only on this server"
    )
    assert webhooks.parse_url("https://hooks.example.com/x", allow_private=False) == "https://hooks.example.com/x"


def test_the_setting_from_flag_or_environment():
    assert Settings().webhook_allow_private is False  # the guard is on unless the operator says otherwise
    assert load_settings({}, {"RPCF_WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private is True
    assert load_settings({}, {"RPCF_WEBHOOK_ALLOW_PRIVATE": "false"}).webhook_allow_private is False
    assert load_settings({"webhook_allow_private": True}, {"RPCF_WEBHOOK_ALLOW_PRIVATE": "false"}).webhook_allow_private is True
    with pytest.raises(SettingsError, match="webhook_allow_private must be true or false"):
        load_settings({}, {"RPCF_WEBHOOK_ALLOW_PRIVATE": "sometimes"})
    parser = cli._build_parser()
    for command in ("serve", "worker"):
        assert cli._settings(parser.parse_args([command])).webhook_allow_private is False
        assert cli._settings(parser.parse_args([command, "--webhook-allow-private"])).webhook_allow_private is True


async def test_the_guarded_resolver_refuses_a_name_if_any_of_its_addresses_is_private():
    resolver = GuardedResolver(StubResolver({"public.example": ["93.184.216.34", "2606:2800:220:1::1"],
                                     "rebound.example": ["93.184.216.34", "127.0.0.1"],
                                     "metadata.example": ["169.254.169.254"]}))
    assert [r["host"] for r in await resolver.resolve("public.example", 443)] == ["93.184.216.34", "2606:2800:220:1::1"]
    with pytest.raises(RefusedTarget, match=r"^rebound.example resolves to 127.0.0.1, a loopback address$"):
        await resolver.resolve("rebound.example", 80)
    with pytest.raises(RefusedTarget, match="metadata.example resolves to 169.254.169.254, a link-local address"):
        await resolver.resolve("metadata.example", 80)


async def test_the_guarded_resolver_refuses_localhost_through_the_system_resolver():
    # aiohttp's default resolver, answering from /etc/hosts: no traffic leaves the machine.
    resolver = GuardedResolver()
    try:
        with pytest.raises(RefusedTarget, match="^localhost resolves to .*, a loopback address$"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
