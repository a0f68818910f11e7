"""The metrics' command-line entry points."""

from __future__ import annotations

from refocus_bench.cli import main


def test_weights_fetch_and_list_report_the_cache(metric_weights, capsys):
    assert main(["weights", "fetch"]) == 0
    out = capsys.readouterr().out
    assert "present and verified" in out and "vgg16_features.safetensors" in out
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 11 and all(" ok " in line for line in lines[:5])
    imported = {line.split()[0]: line for line in lines[5:9]}
    assert set(imported) == {"clipiqa.vit", "clip_i.vit", "musiq.koniq", "maniqa.koniq"}
    assert all(" missing " in line and "weights import" in line for line in imported.values())
    packaged = {line.split()[0]: line for line in lines[9:]}
    assert set(packaged) == {"niqe.live", "brisque.live"}
    assert all(" ok " in line and "packaged constants" in line for line in packaged.values())


def test_weights_list_says_what_to_install_for_the_pyiqa_metrics(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyiqa" else real(name, *a))
    assert main(["weights", "list", "--home", str(tmp_path)]) == 0
    lines = {x.split()[0]: x for x in capsys.readouterr().out.splitlines()}
    for name in ("musiq.koniq", "maniqa.koniq"):
        assert "needs: pip install 'refocus-bench[iqa-noncommercial]'" in lines[name]
    assert "needs:" not in lines["clipiqa.vit"]


def test_weights_list_on_an_empty_cache_says_missing(tmp_path, capsys):
    assert main(["weights", "list", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(" missing ") == 9 and out.count(" ok ") == 2  # the packaged NIQE/BRISQUE constants
    assert "huggingface.co/openai/clip-vit-base-patch16" in out and "musiq_koniq_ckpt-e95806b9.pth" in out


def test_weights_import_converts_and_list_reports_it(tmp_path, capsys):
    from .clip_fixtures import tiny_clip

    tiny_clip(tmp_path / "dl")
    assert main(["weights", "import", "clip_i.vit", str(tmp_path / "dl"), "--home", str(tmp_path / "h")]) == 0
    assert "card.json" in capsys.readouterr().out
    assert main(["weights", "list", "--home", str(tmp_path / "h")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("clip_i.vit"))
    assert " ok " in line


def test_weights_import_of_an_unknown_name_or_missing_path_is_one_clear_line(tmp_path, capsys):
    assert main(["weights", "import", "nope.x", str(tmp_path)]) == 2
    assert "no importable weights called 'nope.x'" in capsys.readouterr().err
    assert main(["weights", "import", "clip_i.vit", str(tmp_path / "absent"), "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "PATH: not found" in err and "Traceback" not in err


def test_fetch_failure_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "DISTS_pytorch-0.1-py3-none-any.whl").write_bytes(b"not a wheel")
    code = main(
        [
            "weights",
            "fetch",
            "--only",
            "dists.alpha_beta",
            "--home",
            str(tmp_path / "h"),
            "--source-dir",
            str(tmp_path / "src"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "does not match the pinned" in err and "Traceback" not in err


def test_metrics_list_shows_direction(capsys):
    assert main(["metrics", "list", "lpips.*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["lpips.alex", "lpips.vgg"]
    assert all("lower  is better" in line for line in out)
