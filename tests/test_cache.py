"""The feature cache: keys, round trips, atomic writes and corrupt entries."""

import numpy as np

from clustering.cache import CacheEntry, FeatureCache, cache_key


def test_key_changes_with_every_input_that_changes_the_features():
    base = cache_key("d1", {"color": False}, "vae", {"vae.beta": 1.0}, 0)
    assert base == cache_key("d1", {"color": False}, "vae", {"vae.beta": 1.0}, 0)
    assert base != cache_key("d2", {"color": False}, "vae", {"vae.beta": 1.0}, 0)
    assert base != cache_key("d1", {"color": True}, "vae", {"vae.beta": 1.0}, 0)
    assert base != cache_key("d1", {"color": False}, "dense_ae", {"vae.beta": 1.0}, 0)
    assert base != cache_key("d1", {"color": False}, "vae", {"vae.beta": 2.0}, 0)
    assert base != cache_key("d1", {"color": False}, "vae", {"vae.beta": 1.0}, 1)
    assert base == cache_key("d1", {"color": False}, "vae", {"vae.beta": 1.0}, 0, version=1)
    assert base != cache_key("d1", {"color": False}, "vae", {"vae.beta": 1.0}, 0, version=2)


def test_round_trip_keeps_features_reconstructions_and_seconds(tmp_path):
    cache = FeatureCache(tmp_path)
    features = np.random.default_rng(0).random((50, 7), dtype=np.float32)
    reconstructions = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    cache.put("k", CacheEntry(features, reconstructions, 12.5))
    entry = cache.get("k")
    assert np.array_equal(entry.features, features)
    assert entry.features.dtype == np.float32
    assert np.array_equal(entry.reconstructions, reconstructions)
    assert entry.extract_seconds == 12.5
    assert cache.get("missing") is None
    assert [path.name for path in tmp_path.iterdir()] == ["k.npz"]


def test_corrupt_entry_is_a_miss_and_is_removed(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.put("k", CacheEntry(np.ones((10, 3), np.float32), None, 1.0))
    path = tmp_path / "k.npz"
    path.write_bytes(path.read_bytes()[:100])
    assert cache.get("k") is None
    assert not path.exists()


def test_entry_whose_features_do_not_match_the_checksum_is_a_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.put("k", CacheEntry(np.ones((10, 3), np.float32), None, 1.0))
    with np.load(tmp_path / "k.npz") as data:
        arrays = dict(data)
    arrays["features"] = arrays["features"] * 2
    np.savez(tmp_path / "k.npz", **arrays)
    assert cache.get("k") is None


def test_round_trip_keeps_the_decoder_and_a_changed_decoder_is_a_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    features = np.ones((10, 3), np.float32)
    cache.put("k", CacheEntry(features, None, 1.0, decoder=b"PK\x03\x04 keras bytes"))
    assert cache.get("k").decoder == b"PK\x03\x04 keras bytes"
    cache.put("plain", CacheEntry(features, None, 1.0))
    assert cache.get("plain").decoder is None
    with np.load(tmp_path / "k.npz") as data:
        arrays = dict(data)
    arrays["decoder"] = np.frombuffer(b"PK\x03\x04 other bytes", dtype=np.uint8)
    np.savez(tmp_path / "k.npz", **arrays)
    assert cache.get("k") is None
