"""The macvlan and ipvlan drivers without root: option checks (Docker's messages,
Docker's order), the parent they decide on, the links they would make and
delete, and what they hand the sandbox layer. The kernel is a fake: a set of
link names and a record of what was made and deleted."""

from __future__ import annotations

import pytest

from cnmctl import features, linkkinds, netlink
from cnmctl.drivers import get_driver
from cnmctl.drivers.bridge import OWNER_ALIAS
from cnmctl.errors import Conflict, InvalidArgument, KernelError, NotFound
from cnmctl.model import Endpoint, Network

NET_ID = "0123456789ab" + "c" * 52
OTHER_ID = "fedcba987654" + "d" * 52


class FakeKernel:
    """Links by name -> (kind, alias); what was created and deleted."""

    def __init__(self, monkeypatch, links=("eth0",), lacking=()) -> None:
        self.links = {name: ("veth", "") for name in links}
        self.made, self.deleted, self.lacking = [], [], set(lacking)
        monkeypatch.setattr(netlink, "link_exists", lambda name: name in self.links)
        monkeypatch.setattr(linkkinds, "create_parent_link", self.create)
        monkeypatch.setattr(netlink, "host_links", lambda: [
            (name, kind, "", alias) for name, (kind, alias) in self.links.items()])
        monkeypatch.setattr(netlink, "delete_link", self.delete)
        monkeypatch.setattr(features, "lacks", lambda kind: (
            str(linkkinds.Unsupported(kind)) if kind in self.lacking else ""))

    def create(self, name, kind, base="", vlan_id=0, alias="", temp=""):
        if kind in self.lacking:
            raise linkkinds.Unsupported(kind)
        assert temp == "mk-" + NET_ID[:12]  # made under its making name, then renamed
        self.links[name] = (kind, alias)
        self.made.append((name, kind, base, vlan_id, alias))

    def delete(self, name):
        self.links.pop(name, None)
        self.deleted.append(name)


def network(driver="macvlan", options=None, net_id=NET_ID, internal=False, **data) -> Network:
    net = Network(id=net_id, name="n" + net_id[:3], driver=driver, created="",
                  options=dict(options or {}), internal=internal)
    net.driver_data = data
    return net


def validated(driver="macvlan", options=None, existing=(), **kw) -> Network:
    net = network(driver, options, **kw)
    get_driver(driver).validate(net, list(existing))
    return net


@pytest.mark.parametrize("driver", ["macvlan", "ipvlan"])
def test_registered_without_nat(driver):
    caps = get_driver(driver).capabilities()
    assert (caps.scope, caps.needs_ipam, caps.external_connectivity) == ("local", True, False)


@pytest.mark.parametrize(("options", "message"), [
    ({"macvlan_mode": "foo"},
     "requested macvlan mode 'foo' is not valid, 'bridge' mode is the macvlan driver default"),
    ({"parent": "lo"}, "loopback interface is not a valid macvlan parent link"),
    ({"parent": "eth0", "mtu": "9000"}, "unknown macvlan driver option 'mtu'"),
    ({"parent": "eth0;reboot"},
     "invalid parent interface 'eth0;reboot': only letters, digits, '_', '.' and '-' are "
     "allowed"),
    ({"parent": "a" * 16}, "parent interface 'aaaaaaaaaaaaaaaa' is too long: interface names "
                           "have at most 15 characters"),
    ({"parent": "eth0.a.b"}, "required interface name format is: name.vlan_id, ex. eth0.10 "
                             "for vlan 10, instead received eth0.a.b"),
    ({"parent": "eth0.x"}, "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"),
    ({"parent": "eth0.4095"}, "vlan id must be between 1-4094, received: 4095"),
    ({"parent": "eth0.0"}, "vlan id must be between 1-4094, received: 0"),
])
def test_macvlan_options_refused_with_docker_messages(monkeypatch, options, message):
    FakeKernel(monkeypatch)
    with pytest.raises(InvalidArgument) as exc:
        validated("macvlan", options)
    assert str(exc.value) == message


@pytest.mark.parametrize(("parent", "message"), [
    ("eth9", "invalid subinterface vlan name eth9, example formatting is eth0.10"),
    ("eth9.10", "-o parent interface was not found on the host: eth9"),
])
def test_missing_parent_is_docker_s_not_found(monkeypatch, parent, message):
    FakeKernel(monkeypatch)
    with pytest.raises(NotFound) as exc:
        validated("macvlan", {"parent": parent})
    assert str(exc.value) == message


@pytest.mark.parametrize(("options", "message"), [
    ({"ipvlan_mode": "l4"},
     "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default"),
    ({"ipvlan_flag": "loud"},
     "requested ipvlan flag 'loud' is not valid, 'bridge' is the ipvlan driver default"),
    ({"parent": "lo"}, "loopback interface is not a valid ipvlan parent link"),
    ({"macvlan_mode": "bridge"}, "unknown ipvlan driver option 'macvlan_mode'"),
])
def test_ipvlan_options_refused_with_docker_messages(monkeypatch, options, message):
    FakeKernel(monkeypatch)
    with pytest.raises(InvalidArgument) as exc:
        validated("ipvlan", options)
    assert str(exc.value) == message


def test_defaults_and_an_existing_parent(monkeypatch):
    kernel = FakeKernel(monkeypatch)
    net = validated("macvlan", {"parent": "eth0"})
    assert net.driver_data == {"mode": "bridge", "parent": "eth0", "internal": False,
                               "make": "", "base": "", "vlan_id": 0}
    ipv = validated("ipvlan", {"parent": "eth0", "ipvlan_mode": "l3s"}, internal=True)
    assert (ipv.driver_data["mode"], ipv.driver_data["flag"]) == ("l3s", "bridge")
    assert ipv.driver_data["internal"] is True
    get_driver("macvlan").create_network(net)
    get_driver("macvlan").delete_network(net)
    assert kernel.made == [] and kernel.deleted == [] and "eth0" in kernel.links


def test_a_parent_is_one_network_s_per_driver(monkeypatch):
    FakeKernel(monkeypatch)
    first = validated("macvlan", {"parent": "eth0"}, net_id=OTHER_ID)
    with pytest.raises(Conflict) as exc:
        validated("macvlan", {"parent": "eth0"}, existing=[first])
    assert str(exc.value) == "network dm-fedcba987654 is already using parent interface eth0"
    # another driver's network on it is the kernel's business (Docker checks per driver)
    validated("ipvlan", {"parent": "eth0"}, existing=[first])


def test_no_parent_makes_a_marked_dummy_deleted_with_the_network(monkeypatch):
    kernel = FakeKernel(monkeypatch)
    drv = get_driver("macvlan")
    net = validated("macvlan", {})
    assert net.driver_data["parent"] == "dm-0123456789ab"
    assert net.driver_data["internal"] is True  # Docker: no parent, no way out
    drv.create_network(net)
    assert kernel.made == [("dm-0123456789ab", "dummy", "", 0, OWNER_ALIAS + NET_ID)]
    drv.restore_network(net)  # idempotent: it is there
    assert len(kernel.made) == 1
    del kernel.links["dm-0123456789ab"]  # a reboot
    drv.restore_network(net)
    assert len(kernel.made) == 2
    drv.delete_network(net)
    assert kernel.deleted == ["dm-0123456789ab"] and "dm-0123456789ab" not in kernel.links


def test_a_vlan_parent_is_made_on_its_link_and_only_ours_deleted(monkeypatch):
    kernel = FakeKernel(monkeypatch)
    drv = get_driver("macvlan")
    net = validated("macvlan", {"parent": "eth0.10"})
    assert (net.driver_data["make"], net.driver_data["base"], net.driver_data["vlan_id"]) == (
        "vlan", "eth0", 10)
    drv.create_network(net)
    assert kernel.made == [("eth0.10", "vlan", "eth0", 10, OWNER_ALIAS + NET_ID)]
    kernel.links["eth0.10"] = ("vlan", "someone else's")  # replaced behind cnmctl's back
    drv.delete_network(net)
    assert kernel.deleted == []
    # After a reboot the host's own configuration made eth0.10 again, unmarked: the
    # network uses it as it is, and never deletes it.
    kernel.links["eth0.10"] = ("vlan", "")
    drv.restore_network(net)
    drv.delete_network(net)
    assert kernel.deleted == [] and len(kernel.made) == 1
    # Killed before the mark or the rename: the making name is cnmctl's alone.
    kernel.links["mk-0123456789ab"] = ("vlan", "")
    drv.delete_network(net)
    assert kernel.deleted == ["mk-0123456789ab"]


def test_a_making_link_a_kill_left_goes_before_the_parent_is_made_again(monkeypatch):
    kernel = FakeKernel(monkeypatch)
    net = validated("macvlan", {"parent": "eth0.10"})
    kernel.links["mk-0123456789ab"] = ("vlan", "")  # a restore killed before the mark
    kernel.links["mk-fedcba987654"] = ("vlan", "")  # another network's: not this one's
    get_driver("macvlan").restore_network(net)
    assert kernel.deleted == ["mk-0123456789ab"]
    assert kernel.made == [("eth0.10", "vlan", "eth0", 10, OWNER_ALIAS + NET_ID)]


def test_a_kernel_without_the_kind_is_one_line(monkeypatch):
    FakeKernel(monkeypatch, lacking=("ipvlan", "dummy", "vlan"))
    with pytest.raises(KernelError) as exc:
        validated("ipvlan", {"parent": "eth0"})
    assert str(exc.value) == "cannot create ipvlan network n012: the kernel has no ipvlan links"
    net = validated("macvlan", {})
    with pytest.raises(KernelError) as exc:
        get_driver("macvlan").create_network(net)
    assert str(exc.value) == ("a macvlan network without -o parent needs a dummy link as its "
                              "parent: the kernel has no dummy links")
    net = validated("macvlan", {"parent": "eth0.7"})
    with pytest.raises(KernelError) as exc:
        get_driver("macvlan").create_network(net)
    assert str(exc.value) == ("cannot create the VLAN sub-interface eth0.7 (-o parent): the "
                              "kernel has no 802.1Q VLAN links (8021q)")
    get_driver("macvlan").restore_network(net)  # after a reboot: left for the start to report


def endpoint(**kw) -> Endpoint:
    return Endpoint(id="e" * 64, network_id=NET_ID, container_id="f" * 64, name="c1",
                    ipv4="10.9.0.5/24", gateway="10.9.0.1", **kw)


def test_macvlan_join_is_a_child_with_docker_s_mac_and_gateway(monkeypatch):
    FakeKernel(monkeypatch)
    net = validated("macvlan", {"parent": "eth0", "macvlan_mode": "private"})
    ep = endpoint()
    get_driver("macvlan").create_endpoint(net, ep)
    assert (ep.mac, ep.host_ifname) == ("02:42:0a:09:00:05", "")
    join = get_driver("macvlan").join(net, ep, "/run/x")
    assert (join.kind, join.parent, join.mode, join.mac) == (
        "macvlan", "eth0", "private", "02:42:0a:09:00:05")
    assert (join.addresses, join.gateway, join.static_routes) == (
        ["10.9.0.5/24"], "10.9.0.1", [])
    assert not join.disable_gateway_service
    get_driver("macvlan").create_endpoint(net, ep, "02:00:00:00:00:01")
    assert ep.mac == "02:00:00:00:00:01"


def test_internal_networks_get_no_gateway(monkeypatch):
    FakeKernel(monkeypatch)
    net = validated("macvlan", {"parent": "eth0"}, internal=True)
    ep = endpoint()
    get_driver("macvlan").create_endpoint(net, ep)
    join = get_driver("macvlan").join(net, ep, "/run/x")
    assert ep.gateway == "" and join.disable_gateway_service


def test_ipvlan_modes_route_as_docker_s(monkeypatch):
    FakeKernel(monkeypatch)
    drv = get_driver("ipvlan")
    l2 = validated("ipvlan", {"parent": "eth0", "ipvlan_flag": "private"})
    ep = endpoint()
    drv.create_endpoint(l2, ep)
    join = drv.join(l2, ep, "/run/x")
    assert (ep.mac, join.gateway, join.static_routes, join.flag) == (
        "", "10.9.0.1", [], "private")
    l3 = validated("ipvlan", {"parent": "eth0", "ipvlan_mode": "l3"})
    ep = endpoint(ipv6="fd00::5/64", ipv6_gateway="fd00::1")
    drv.create_endpoint(l3, ep)
    join = drv.join(l3, ep, "/run/x")
    assert (ep.gateway, ep.ipv6_gateway, join.mode) == ("", "", "l3")
    assert join.static_routes == [("0.0.0.0/0", ""), ("::/0", "")]
    with pytest.raises(InvalidArgument) as exc:
        drv.create_endpoint(l2, endpoint(), "02:00:00:00:00:01")
    assert str(exc.value) == "ipvlan interfaces do not support custom mac address assignment"


def test_passthru_children_keep_the_parent_s_mac(monkeypatch):
    FakeKernel(monkeypatch)
    net = validated("macvlan", {"parent": "eth0", "macvlan_mode": "passthru"})
    ep = endpoint()
    get_driver("macvlan").create_endpoint(net, ep)
    assert ep.mac == "" and get_driver("macvlan").join(net, ep, "/run/x").mac == ""
    with pytest.raises(InvalidArgument):
        get_driver("macvlan").create_endpoint(net, endpoint(), "02:00:00:00:00:01")


@pytest.mark.parametrize("driver", ["macvlan", "ipvlan"])
@pytest.mark.parametrize(("parent", "message"), [
    ("br-fedcba987654", "invalid parent interface br-fedcba987654: it is a link cnmctl made "
                        "for network nfed, not a host interface"),
    ("vethabc1234", "invalid parent interface vethabc1234: it is a port of br-fedcba987654, "
                    "a bridge cnmctl made for network nfed, not a host interface"),
    ("mybr.10", "invalid parent interface mybr.10: mybr is a link cnmctl made for network "
                "nfed, not a host interface"),
    ("dm-0000000000aa", "invalid parent interface dm-0000000000aa: it is a link cnmctl made "
                        "for network 0000000000aa, not a host interface"),
])
def test_a_link_cnmctl_made_is_no_parent(monkeypatch, driver, parent, message):
    """A bridge cnmctl made (or a container's veth on it, or another network's parent)
    goes with its network: as a parent it would vanish under the containers."""
    kernel = FakeKernel(monkeypatch)
    bridge = network("bridge", net_id=OTHER_ID)
    kernel.links["br-fedcba987654"] = ("bridge", OWNER_ALIAS + OTHER_ID)
    kernel.links["mybr"] = ("bridge", OWNER_ALIAS + OTHER_ID)  # -o ...bridge.name=mybr
    kernel.links["vethabc1234"] = ("veth", "")
    kernel.links["dm-0000000000aa"] = ("dummy", OWNER_ALIAS + "0000000000aa" + "0" * 52)
    monkeypatch.setattr(netlink, "host_links", lambda: [
        (name, kind, "br-fedcba987654" if name.startswith("veth") else "", alias)
        for name, (kind, alias) in kernel.links.items()])
    with pytest.raises(InvalidArgument) as exc:
        validated(driver, {"parent": parent}, existing=[bridge])
    assert str(exc.value) == message
    assert kernel.made == []


class RefusingRtnl:
    """A socket whose every request the kernel refuses with `code`."""

    def __init__(self, code: int) -> None:
        self.code = code

    def request(self, msg, msg_type, flags=0):
        raise netlink.NetlinkFailure(self.code)


@pytest.mark.parametrize(("lacking", "message"), [
    ("the kernel refused a link of type vlan: Operation not supported",
     "the kernel has no 802.1Q VLAN links (8021q)"),
    # A kernel with 8021q refuses a VLAN on lo (NETIF_F_VLAN_CHALLENGED) the same way:
    # the kernel's own words then, not a missing feature.
    ("", "create vlan link lo.5: Operation not supported"),
])
def test_eopnotsupp_is_a_missing_kind_only_where_the_kernel_lacks_it(monkeypatch, lacking,
                                                                      message):
    import errno

    monkeypatch.setattr(features, "probe", lambda kinds: {"vlan": lacking})
    with pytest.raises(KernelError) as exc:
        linkkinds._add(RefusingRtnl(errno.EOPNOTSUPP), "create vlan link lo.5", "lo.5", "vlan",
                       1, [("IFLA_VLAN_ID", 5)])
    assert str(exc.value) == message
    assert isinstance(exc.value, linkkinds.Unsupported) == bool(lacking)
