"""The browser harness without a browser: what happens where chromium is missing."""

from __future__ import annotations

import pytest

from tests import browser


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "chromium"))


@pytest.mark.usefixtures("no_chromium")
@pytest.mark.parametrize("ci", ["", "0", "false"])
def test_without_chromium_the_browser_tests_skip_outside_ci(monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.chromium_path()


@pytest.mark.usefixtures("no_chromium")
@pytest.mark.parametrize("ci", ["true", "1"])
def test_without_chromium_the_browser_tests_fail_in_ci(monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        browser.chromium_path()
