"""The harvest's camera-only lensfun database finds what the full database finds, faster."""

from __future__ import annotations

import time

import lensfunpy

from refocus_bench.datasets import sensors


def _key(cams):
    return [(c.maker, c.model, c.variant, round(float(c.crop_factor), 4)) for c in cams]


def test_camera_only_database_answers_every_lookup_like_the_full_one():
    full = lensfunpy.Database()
    ours = lensfunpy.Database(xml=sensors.lensfun_cameras_xml(), load_common=False, load_bundled=False)
    assert len(ours.cameras) == len(full.cameras) > 900
    for cam in full.cameras:
        assert _key(ours.find_cameras(cam.maker, cam.model)) == _key(full.find_cameras(cam.maker, cam.model))
    # the maker aliases ExifTool reports match as before
    for make, model in (("NIKON CORPORATION", "NIKON D7000"), ("Canon", "Canon EOS 5D Mark II")):
        assert _key(ours.find_cameras(make, model)) == _key(full.find_cameras(make, model)) != []


def test_camera_only_database_loads_faster():
    def best(fn):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    full = best(lensfunpy.Database)
    ours = best(lambda: lensfunpy.Database(xml=sensors.lensfun_cameras_xml(), load_common=False, load_bundled=False))
    assert ours < full / 2, (ours, full)
