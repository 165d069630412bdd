"""In a real browser (Debian's Chromium, headless, driven by Selenium through Debian's chromedriver).

A newcomer's walk: landing page, search, an entity, switch language, follow a link, open its DESCRIBE
in the SPARQL UI. The project's set-up (make .stamp-system) installs chromium and chromium-driver.
"""

import os
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, with a fresh profile; never downloads a browser or driver."""
    offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    profile = tempfile.mkdtemp(prefix="hkgraph-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    if offline is None:
        os.environ.pop("SE_OFFLINE", None)


def wait(driver):
    return WebDriverWait(driver, 15)


def h1(driver) -> str:
    return driver.find_element(By.TAG_NAME, "h1").text.strip()


def test_a_newcomers_walk(browser, live_server, tmp_path):
    browser.delete_all_cookies()
    # 1. the landing page says what this is and offers a search box
    browser.get(live_server)
    assert "Hong Kong" in h1(browser)
    assert browser.find_element(By.CSS_SELECTOR, "a[href='/doc/def/']")
    browser.save_screenshot(str(tmp_path / "1-landing.png"))

    # 2. search in Traditional Chinese for a name the chapter writes in Simplified
    box = browser.find_element(By.CSS_SELECTOR, "header form[role=search] input[name=q]")
    box.send_keys("科技園")
    box.submit()
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.results a.hit")))
    hits = browser.find_elements(By.CSS_SELECTOR, "ol.results a.hit")
    assert hits[0].get_attribute("href").endswith("/doc/org/hkstp")
    browser.save_screenshot(str(tmp_path / "2-search.png"))

    # 3. open the entity
    hits[0].click()
    wait(browser).until(ec.url_contains("/doc/org/hkstp"))
    assert h1(browser) == "Hong Kong Science and Technology Parks Corporation"
    assert browser.find_element(By.CSS_SELECTOR, "aside.provenance blockquote").text

    # 4. switch to Traditional Chinese
    browser.find_element(By.CSS_SELECTOR, "nav.languages a[lang='zh-Hant']").click()
    wait(browser).until(lambda d: h1(d) == "香港科技園公司")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hant"
    browser.save_screenshot(str(tmp_path / "3-entity-zh-hant.png"))

    # 5. follow a link: the language stays
    parent = browser.find_element(By.CSS_SELECTOR, "section.org a")
    target = parent.get_attribute("href")
    parent.click()
    wait(browser).until(ec.url_to_be(target))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hant"
    title = h1(browser)
    assert title and not title.isascii()

    # 6. open this entity's DESCRIBE in the SPARQL UI
    iri = browser.find_element(By.CSS_SELECTOR, "p.iri code").text
    browser.find_element(By.CSS_SELECTOR, "a.describe").click()
    wait(browser).until(ec.url_contains("/sparql?query="))
    expected = f"DESCRIBE <{iri}>"
    wait(browser).until(
        lambda d: (
            expected in (d.execute_script("return document.getElementById('query').value") or "")
            or expected in d.find_element(By.TAG_NAME, "body").text
        )
    )
    browser.save_screenshot(str(tmp_path / "4-describe.png"))


def test_entity_page_fits_a_phone(browser, live_server):
    browser.set_window_size(390, 844)
    try:
        for path in ("doc/org/itc", "doc/facility/science-park", "doc/def/", "search?q=fund"):
            browser.get(live_server + path)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
    finally:
        browser.set_window_size(1280, 1000)


def test_no_request_leaves_the_server(browser, live_server):
    """Pages load no external assets: every resource the browser fetched came from the server itself."""
    browser.get(live_server + "doc/org/itc")
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls, "expected at least the stylesheet"
    assert all(url.startswith(live_server) for url in urls), urls
