"""A series' key: one per metric and label set, whatever the labels' order, kept compactly."""

from __future__ import annotations

import gc

from hostvitals.shared.protocol import interned, series_key


def test_the_key_does_not_depend_on_the_order_of_the_labels() -> None:
    a = series_key("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"})
    b = series_key("node_cpu_seconds_total", {"mode": "idle", "cpu": "0"})
    assert a == b == ("node_cpu_seconds_total", "cpu", "0", "mode", "idle")
    assert hash(a) == hash(b)


def test_keys_tell_metrics_labels_and_values_apart() -> None:
    keys = {
        series_key("m", {}),
        series_key("n", {}),
        series_key("m", {"device": "sda"}),
        series_key("m", {"device": "sdb"}),
        series_key("m", {"mountpoint": "sda"}),
        series_key("m", {"a": "b", "c": "d"}),
        series_key("m", {"a": "b", "c": "e"}),
        # The flat layout cannot confuse a label's name with a value.
        series_key("m", {"a": "c", "b": "d"}),
    }
    assert len(keys) == 8


def test_an_interned_key_shares_its_strings_and_is_not_followed_by_the_collector() -> None:
    value = "".join(["veth", "12"])  # built at run time: not interned yet
    first = interned(series_key("node_network_receive_bytes_total", {"device": value}))
    second = interned(series_key("node_network_receive_bytes_total", {"device": "veth12"}))
    assert first == second
    assert first[2] is second[2]
    gc.collect()
    assert not gc.is_tracked(first)
