"""The static site in a real browser: headless Chromium from file://, no network, sortable tables.

Needs Debian ``chromium`` and ``chromium-driver`` (``scripts/setup.sh`` installs them). A missing browser
fails this test with the install command instead of skipping it. The screenshot is written to
``$REFOCUS_BENCH_ARTIFACTS`` when set (else to the test's tmp_path) and its path is printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from refocus_bench.leaderboards import build_site
from refocus_bench.leaderboards.html_pages import benchmark_page_path

from .test_leaderboard_support import XSS, standard_results

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _driver():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the leaderboard browser test needs Chromium and its driver; "
            "install them with `bash scripts/setup.sh` (or `sudo apt-get install -y chromium chromium-driver`)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1300",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _models(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    ]


def _header(driver, label: str):
    from selenium.webdriver.common.by import By

    return next(th for th in driver.find_elements(By.CSS_SELECTOR, "#leaderboard thead th") if th.text.strip() == label)


def test_site_sorts_in_headless_chromium(tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    results = standard_results(tmp_path / "results")
    result = build_site(results, tmp_path / "site")
    table = next(t for t in result.tables if t.name == "synthetic-deblur")
    page = (result.site_dir / benchmark_page_path(table)).resolve()
    artifacts = Path(os.environ.get("REFOCUS_BENCH_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "leaderboard-synthetic-deblur.png"

    driver = _driver()
    try:
        driver.get(page.as_uri())
        assert driver.title.startswith("synthetic-deblur v1")
        # ranked by lpips.alex, lower is better
        assert _models(driver) == ["deblur.wiener", "identity", XSS]
        # runtime per image: wiener 0.225 s, identity 0.1 s, the third 0.025 s
        _header(driver, "s/image").click()
        assert _models(driver) == [XSS, "identity", "deblur.wiener"]
        assert _header(driver, "s/image").get_attribute("aria-sort") == "ascending"
        _header(driver, "s/image").click()
        assert _models(driver) == ["deblur.wiener", "identity", XSS]
        _header(driver, "Model").click()
        assert _models(driver) == [XSS, "deblur.wiener", "identity"]
        _header(driver, "Rank").click()
        assert _models(driver) == ["deblur.wiener", "identity", XSS]
        # the escaped name is shown as text and ran nothing
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
        assert driver.execute_script("return document.querySelectorAll('script').length") == 2
        # every image (plots, examples) loaded from the site folder; nothing was fetched from elsewhere
        sizes = driver.execute_script("return Array.from(document.images).map(i => [i.src, i.naturalWidth])")
        assert sizes and all(w > 0 for _, w in sizes), sizes
        urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(u.startswith(result.site_dir.resolve().as_uri()) for u in urls), urls
        assert driver.save_screenshot(str(shot))
        driver.get((result.site_dir / "index.html").resolve().as_uri())
        assert "synthetic-bokeh" in driver.page_source
    finally:
        driver.quit()
    print(f"leaderboard screenshot: {shot}")
    assert shot.stat().st_size > 1000


def test_missing_browser_fails_with_install_hint(monkeypatch):
    """The browser check never skips silently: a missing binary fails with the setup command."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="scripts/setup.sh"):
        _driver()


WIDTHS = {"desktop": 1280, "phone": 390}


def _polish_site(tmp_path: Path):
    """The standard fixture plus a model that failed on some samples and a published table beside it."""
    from .test_leaderboard_polish import _with_failures
    from .test_leaderboard_published import PUBLISHED
    from .test_leaderboard_support import make_record, published_table, write_published, write_results

    results = standard_results(tmp_path / "results")
    write_results(
        results, {"synthetic-deblur/scatter.json": _with_failures(make_record("bokeh.scatter", 0.02), (1, 3))}
    )
    pub = write_published(tmp_path / "published", {"test-paper-table2": published_table()})
    return build_site(results, tmp_path / "site", published_dirs=[pub, PUBLISHED])


def _full_page_shot(driver, width: int, path: Path) -> list:
    """Grow the window to the page's height (lazy images enter the viewport), wait for every image,
    save the screenshot and return ``[src, naturalWidth]`` of each image."""
    from selenium.webdriver.support.ui import WebDriverWait

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 120, 8000))
    done = "return Array.from(document.images).every(i => i.complete)"
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(done))
    assert driver.save_screenshot(str(path))
    return driver.execute_script("return Array.from(document.images).map(i => [i.src, i.naturalWidth])")


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_reported_rows_failures_and_layout_in_chromium(tmp_path, device):
    """Desktop and phone widths: reported rows styled apart with their source link, failure reasons,
    the n column, no page-wide horizontal scrolling, every image loaded; screenshots of both pages."""
    from selenium.webdriver.common.by import By

    width = WIDTHS[device]
    result = _polish_site(tmp_path)
    artifacts = Path(os.environ.get("REFOCUS_BENCH_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shots = [artifacts / f"leaderboard-index-{device}.png", artifacts / f"leaderboard-synthetic-deblur-{device}.png"]
    driver = _driver()
    try:
        driver.set_window_size(width, 900)
        driver.get((result.site_dir / "index.html").resolve().as_uri())
        reported = driver.find_elements(By.CSS_SELECTOR, "section.reported")
        assert len(reported) == 2 and all(s.is_displayed() for s in reported)
        body_bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        bg = reported[0].value_of_css_property("background-color")
        assert bg != body_bg and bg not in ("rgba(0, 0, 0, 0)", "transparent"), (bg, body_bg)
        badges = driver.find_elements(By.CSS_SELECTOR, "section.reported .badge")
        assert badges and all(b.text.strip().lower() == "reported" for b in badges)
        sources = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "section.reported h3 a")]
        assert "https://arxiv.org/html/2512.16923v3" in sources and any("2501.00001" in s for s in sources)
        heads = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.sortable thead th")]
        assert "n" in [h.replace("⇅", "").strip() for h in heads]
        assert "4/6" in driver.page_source
        # the page itself never scrolls sideways: wide tables scroll inside their own box
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"page is {overflow} px wider than a {width} px window"
        _full_page_shot(driver, width, shots[0])

        driver.set_window_size(width, 900)
        driver.get((result.site_dir / "benchmarks" / "synthetic-deblur.html").resolve().as_uri())
        failures = driver.find_element(By.ID, "failures")
        assert failures.is_displayed()
        assert "2 of 6 samples failed" in driver.find_element(By.CSS_SELECTOR, "ul.failures").text
        side = driver.find_element(By.CSS_SELECTOR, "section.reported tbody tr").text
        assert "Wiener" in side and "0.1250" in side and "synthetic-deblur" in side  # reported beside reproduced
        assert "not available" not in driver.page_source
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"benchmark page is {overflow} px wider than a {width} px window"
        sizes = _full_page_shot(driver, width, shots[1])
        assert sizes and all(w > 0 for _, w in sizes), sizes  # plots and examples, from the site folder
    finally:
        driver.quit()
    for shot in shots:
        print(f"leaderboard screenshot: {shot}")
        assert shot.stat().st_size > 1000
