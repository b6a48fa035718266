import math

from shared_state import LoopCounts, director_config

from l7lb.config.load import parse_config


def test_director_config_without_store_is_valid_and_has_two_vips():
    text = director_config(10001, 10002, 10003, "/c.pem", "/c.key", None)
    cfg = parse_config(text)
    assert cfg.store.engine == "memory"
    assert cfg.workers == 1
    assert sorted(v.name for v in cfg.vips) == ["tls-id", "tls-tk"]
    assert "tickets = false" in text.split('name = "tls-tk"')[0]  # only the session-ID VIP


def test_director_config_with_redis_names_the_store_and_namespace():
    text = director_config(1, 2, 3, "/c.pem", "/c.key", "redis://127.0.0.1:6380/0", "ns1")
    cfg = parse_config(text)
    assert (cfg.store.engine, cfg.store.port, cfg.store.namespace) == ("redis", 6380, "ns1")


def test_two_directors_differ_only_in_ports():
    a = director_config(1001, 1002, 3, "/c.pem", "/c.key", "redis://127.0.0.1:1/0", "ns")
    b = director_config(2001, 2002, 3, "/c.pem", "/c.key", "redis://127.0.0.1:1/0", "ns")
    assert a.replace("1001", "X").replace("1002", "Y") == b.replace("2001", "X").replace(
        "2002", "Y"
    )


def test_loop_counts_sum_and_share_ignores_handshakes_with_nothing_to_offer():
    one = LoopCounts(full=2, resumed=98, errors=0, seconds=5.0, unoffered=1)
    two = LoopCounts(full=1, resumed=99, errors=1, seconds=5.2, unoffered=1)
    total = one + two
    assert total == LoopCounts(3, 197, 1, 5.2, 2)
    assert total.handshakes == 200
    assert math.isclose(total.share, 197 / 198)
    assert math.isclose(total.rate, 200 / 5.2)


def test_share_is_nan_when_nothing_was_offered():
    assert math.isnan(LoopCounts(full=4, unoffered=4).share)
    assert LoopCounts().rate == 0.0
