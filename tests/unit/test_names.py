import pytest

from nova_lxc_contrail import names

pytestmark = pytest.mark.py27

PORT_ID = '3f0e5c8a-91d2-4b57-a1c4-0d9e8f7a6b5c'


def test_tap_name_is_novas_devname():
    assert names.tap_name(PORT_ID) == 'tap3f0e5c8a-91'
    assert len(names.tap_name(PORT_ID)) == names.NIC_NAME_LEN


def test_bridge_name_is_br_plus_tap_suffix():
    bridge = names.bridge_name(PORT_ID)
    assert bridge == 'br' + names.tap_name(PORT_ID)[3:] == 'br3f0e5c8a-91'
    assert len(bridge) <= names.MAX_IFNAME_LEN


def test_bridge_name_follows_the_devname_nova_gives():
    assert names.bridge_name(PORT_ID, devname='tapabcdef') == 'brabcdef'


def test_bridge_names_collide_only_when_tap_names_do():
    other = PORT_ID[:11] + 'ff-ffff-ffff-ffffffffffff'
    assert names.tap_name(other) == names.tap_name(PORT_ID)
    assert names.bridge_name(other) == names.bridge_name(PORT_ID)
    assert names.bridge_name('00000000-0000') != names.bridge_name(PORT_ID)


@pytest.mark.parametrize('bad', ['', 'x' * 16, 'br 1', 'br/1', 'br:1', '.',
                                 '..', 'br\n', None, 42])
def test_check_ifname_refuses_what_the_kernel_refuses(bad):
    with pytest.raises(ValueError):
        names.check_ifname(bad)


def test_check_ifname_accepts_15_characters():
    assert names.check_ifname(u'a' * 15) == 'a' * 15
