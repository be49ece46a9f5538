"""The observatory's web pages in a real browser (Chromium driven by Playwright), against
`observatory serve` on its seeded data: what a visitor looks for on each page, that the pages
are accessible (landmarks, labels, heading order, named charts), that the home page fits a
phone, and that `?lang=fr` switches the language. Full-page screenshots go to
test-output/screenshots/, and the home page's also to docs/screenshots/home.png."""

import re
import time
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "home.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SEEDED_INITIATIVES = [
    "Great Green Wall for the Sahara and the Sahel",
    "La Guilde du jeu vidéo du Québec (Coop la Guilde)",
    "Mondragon Corporation",
    "Territoires zéro chômeur de longue durée",
]


def fold(text: str) -> str:
    """Lower case without accents, as the law guide compares words."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def nfc(text: str) -> str:
    """The SDG labels are served decomposed (NFD, a known defect); compare composed text."""
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def base_url(server) -> str:
    """The gateway's address, once it answers (it starts just after the gRPC server)."""
    address = next(arg.split("=", 1)[1] for arg in server.process.args if arg.startswith("--http-addr="))
    url = f"http://{address}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"{url}/static/observatory.css", timeout=2) as response:
                assert response.status == 200
                return url
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not answer at {url}\n{server.log()}")
            time.sleep(0.1)


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport=DESKTOP, base_url=base_url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def visit(page: Page, path: str, status: int = 200):
    response = page.goto(path)
    assert response is not None and response.status == status, f"{path}: HTTP {response and response.status}"
    assert_accessible(page)
    return response


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Page) -> None:
    """What every page owes a keyboard or screen-reader user, checked in the rendered page."""
    problems = page.evaluate(
        """() => {
        const problems = [];
        const html = document.documentElement;
        if (!html.lang) problems.push('no lang attribute');
        if (!document.querySelector('meta[name=viewport]')) problems.push('no viewport meta');
        for (const selector of ['header', 'nav', 'main#main', 'footer']) {
            if (!document.querySelector(selector)) problems.push('no ' + selector);
        }
        const first = document.querySelector('body a');
        if (!first || first.getAttribute('href') !== '#main') problems.push('the first link is not a skip link');
        if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
        let previous = 0;
        for (const heading of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
            const level = Number(heading.tagName[1]);
            if (level > previous + 1) problems.push('heading jumps to ' + heading.tagName + ': ' + heading.textContent);
            previous = level;
        }
        for (const control of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
            const labelled = control.labels.length > 0 || control.getAttribute('aria-label');
            if (!labelled) problems.push('unlabelled control ' + (control.name || control.id));
        }
        for (const svg of document.querySelectorAll('svg')) {
            const title = svg.querySelector(':scope > title');
            const desc = svg.querySelector(':scope > desc');
            if (svg.getAttribute('role') !== 'img' || !title || !title.textContent.trim() || !desc
                || !(svg.getAttribute('aria-labelledby') || '').includes(title.id)) {
                problems.push('an SVG without role=img, title and desc');
            }
        }
        for (const link of document.querySelectorAll('a')) {
            if (!link.textContent.trim() && !link.getAttribute('aria-label')) problems.push('a link without text');
        }
        return problems;
    }"""
    )
    assert problems == [], f"{page.url}: {problems}"


def test_home_says_what_the_observatory_holds(page: Page):
    visit(page, "/")
    expect(page).to_have_title("Home — SSE Observatory")
    expect(page.locator("h1")).to_have_text("SSE Observatory")
    counts = {
        label: int(number.replace(",", ""))
        for number, label in zip(
            page.locator(".counts .count-number").all_inner_texts(),
            page.locator(".counts .count-label").all_inner_texts(),
        )
    }
    assert counts == {"initiatives": 4, "indicators": 10, "observations": 19, "legal texts": 26}

    countries = page.get_by_role("table").first
    expect(countries.get_by_role("rowheader")).to_have_count(14)
    france = countries.get_by_role("row").filter(has=page.get_by_role("link", name="France (FR)", exact=True))
    expect(france.locator(".bar-value")).to_have_text("1")

    goals = page.locator("ol.goals > li")
    expect(goals).to_have_count(17)
    decent_work = goals.nth(7)
    expect(decent_work.locator(".goal-title")).to_have_text("Decent work and economic growth")
    expect(decent_work.locator(".bar-value")).to_contain_text("4")
    expect(page.locator(".figure-source").first.get_by_role("link").first).to_have_attribute("href", "/v1/initiatives")
    screenshot(page, "home")
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)


def test_home_fits_a_phone_without_sideways_scrolling(browser, base_url):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, base_url=base_url)
    page = context.new_page()
    try:
        visit(page, "/")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the page is {widths[0]}px wide in a {widths[1]}px viewport"
        screenshot(page, "home-phone")
        visit(page, "/initiatives/great-green-wall")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the initiative page is {widths[0]}px wide in {widths[1]}px"
        screenshot(page, "great-green-wall-phone")
    finally:
        context.close()


def test_lang_switches_to_french_and_spanish(page: Page):
    visit(page, "/?lang=fr")
    assert page.evaluate("document.documentElement.lang") == "fr"
    expect(page.locator("h1")).to_have_text("Observatoire de l’ESS")
    goal_8 = page.locator("ol.goals > li").nth(7).locator(".goal-title").inner_text()
    assert nfc(goal_8) == "Travaux décent et croissance économique"
    expect(page.get_by_role("link", name="Initiatives", exact=True)).to_have_attribute("href", "/initiatives?lang=fr")
    screenshot(page, "home-fr")

    page.get_by_role("navigation", name="Langue").get_by_role("link", name="Español").click()
    assert page.evaluate("document.documentElement.lang") == "es"
    assert page.url.endswith("/?lang=es")
    assert nfc(page.locator("ol.goals > li").nth(7).locator(".goal-title").inner_text()) == (
        "Trabajo decente y crecimiento económico"
    )
    page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
    assert page.evaluate("document.documentElement.lang") == "en"


def test_the_initiatives_list_shows_the_seeded_four_and_filters_with_a_plain_form(page: Page):
    visit(page, "/initiatives")
    titles = page.locator(".cards .card-title").all_inner_texts()
    assert sorted(titles) == SEEDED_INITIATIVES
    screenshot(page, "initiatives")

    page.get_by_label("Country").fill("fr")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert "country=fr" in page.url
    assert_accessible(page)
    expect(page.locator(".cards .card-title")).to_have_text(["Territoires zéro chômeur de longue durée"])

    visit(page, "/initiatives?legal_form=COOPERATIVE&sdg=9")
    expect(page.locator(".cards .card-title")).to_have_count(2)
    expect(page.get_by_label("Legal form")).to_have_value("COOPERATIVE")
    visit(page, "/initiatives?q=green")
    expect(page.locator(".cards .card-title")).to_have_text(["Great Green Wall for the Sahara and the Sahel"])


def test_the_great_green_wall_page_charts_its_figures_against_its_targets(page: Page):
    visit(page, "/initiatives/great-green-wall")
    expect(page.locator("h1")).to_have_text("Great Green Wall for the Sahara and the Sahel")
    expect(page.locator("#sources + ul a").first).to_have_attribute(
        "href", "https://www.unccd.int/publications/great-green-wall-implementation-status-and-way-ahead-2030"
    )

    land = page.locator("section.indicator", has=page.locator("#indicator-land-restored"))
    chart = land.locator("svg")
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("title").first).to_have_text("Land restored")
    description = chart.locator("desc").text_content()
    assert description.startswith("Reported: ")
    assert "18,000,000 hectares (2007/2020, Mongabay / TWIB report of the UNCCD status report)" in description
    assert "20,000,000 hectares (2007/2020, ThisDay, 2020-11-03)" in description
    assert "Target: 100,000,000 hectares (2030" in description
    expect(chart.locator("circle.reported")).to_have_count(3)  # two figures and the legend's
    expect(chart.locator(".target line[stroke-dasharray]")).to_have_count(1)
    expect(chart.locator("text", has_text="hectares")).to_have_count(1)
    expect(land.locator(".progress")).to_contain_text("20 %")
    caption_links = {link.get_attribute("href") for link in land.locator("figcaption a").all()}
    assert caption_links == {
        "https://www.twib.news/the-great-green-wall-is-moving-forward/",
        "https://www.thisdaylive.com/index.php/2020/11/03/about-20-million-hectares-of-land-restored-in-great-green-wall/",
        "https://www.unccd.int/publications/great-green-wall-implementation-status-and-way-ahead-2030",
    }
    expect(land.locator("table.figures tbody tr")).to_have_count(3)
    expect(page.locator("section.indicator svg")).to_have_count(4)
    screenshot(page, "great-green-wall")

    visit(page, "/initiatives/tzcld")
    laws = page.locator("#laws + ul a")
    expect(laws).to_have_count(2)
    expect(laws.first).to_have_attribute("href", "/laws/fr-loi-2016-231")
    expect(laws.first).to_contain_text("Loi n° 2016-231 — ")


def test_indicators_show_their_series_and_sdg_links(page: Page):
    visit(page, "/indicators")
    land = page.locator("section#land-restored")
    expect(land.locator("h2")).to_have_text("Land restored")
    sdg = land.locator(".sdg-links li")
    expect(sdg).to_contain_text("15.3.1 Proportion of land that is degraded over total land area")
    expect(sdg.get_by_role("link")).to_have_attribute("href", "/initiatives?sdg=15")
    rows = land.locator("table.figures tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator("td").first).to_have_text("2007/2020")
    expect(land.get_by_role("link", name="ThisDay, 2020-11-03")).to_have_attribute(
        "href", "https://www.thisdaylive.com/index.php/2020/11/03/about-20-million-hectares-of-land-restored-in-great-green-wall/"
    )
    screenshot(page, "indicators")

    visit(page, "/indicators?lang=fr")
    title = page.locator("section#land-restored .sdg-links li").inner_text()
    assert "15.3.1" in title and "Surface des terres dégradées" in nfc(title) and "Objectif 15" in title


def test_a_law_search_ranks_texts_and_highlights_the_words(page: Page):
    visit(page, "/laws")
    page.get_by_label("Search the laws").fill("economía social")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert_accessible(page)
    results = page.locator("ol.results > li")
    assert results.count() >= 5
    first = results.first
    expect(first.locator(".meta")).to_contain_text(" · ")
    expect(first.locator("mark").first).to_be_visible()
    # Every form of the query's words is marked (the law guide matches word stems across
    # languages: "sociales" is a form of "social").
    marked = {fold(text) for text in first.locator("mark").all_inner_texts()}
    assert marked and all(word.startswith(("econom", "social")) for word in marked), marked
    expect(page.locator(".result-count")).to_contain_text("legal texts")
    # The Spanish-language laws come first for the query as written with its accent.
    for index in range(3):
        assert results.nth(index).locator(".original-title").get_attribute("lang") == "es"
    screenshot(page, "laws-search")


def test_the_matrix_shows_which_jurisdictions_cover_which_topics(page: Page):
    visit(page, "/laws")
    matrix = page.locator("table.matrix")
    expect(matrix.locator("thead th")).to_have_count(14)
    expect(matrix.locator("thead th").nth(4)).to_have_text("Registry")
    spain = matrix.locator("tbody tr", has=page.locator("th", has_text=re.compile(r"^ES$")))
    expect(spain.locator("td").nth(3).get_by_role("link", name="Ley 5/2011")).to_have_attribute(
        "href", "/laws/es-ley-5-2011"
    )
    assert matrix.locator("tbody tr").count() >= 20
    screenshot(page, "laws")


def test_a_law_page_shows_its_provisions_sources_and_history(page: Page):
    visit(page, "/laws/es-ley-5-2011")
    expect(page.locator("h1")).to_have_text("Law 5/2011 of 29 March on the Social Economy")
    expect(page.locator(".original-title")).to_have_attribute("lang", "es")
    provisions = page.locator("ol.provisions > li")
    assert provisions.count() >= 4
    expect(provisions.first.locator("h3")).to_contain_text("art. 2")
    expect(provisions.first).to_contain_text("Our paraphrase, not the official wording.")
    expect(page.get_by_role("link", name="https://www.boe.es/eli/es/l/2011/03/29/5")).to_be_visible()
    expect(page.locator("#sources + ul a").first).to_have_attribute(
        "href", "http://ilo.org/dyn/natlex/natlex4.detail?p_lang=en&p_isn=86256"
    )
    expect(page.locator("#revisions ~ p")).to_have_text("No earlier revisions.")
    screenshot(page, "law-es-ley-5-2011")

    visit(page, "/laws/fr-loi-2016-231")
    expect(page.locator("#initiatives + ul a")).to_have_attribute("href", "/initiatives/tzcld")
    relation = page.locator("#relations + ul li").first
    expect(relation.get_by_role("link")).to_have_attribute("href", "/laws/fr-loi-2020-1577")


def test_errors_are_pages_with_the_right_status(page: Page):
    visit(page, "/initiatives/no-such-initiative", status=404)
    expect(page.locator("h1")).to_have_text("Page not found")
    visit(page, "/laws/no-such-law", status=404)
    visit(page, "/initiatives?sdg=18", status=400)
    expect(page.locator("h1")).to_have_text("Bad request")
    expect(page.get_by_role("alert")).to_contain_text("not a Sustainable Development Goal")
    visit(page, "/initiatives?page_token=garbage", status=400)
    screenshot(page, "error-400")


@pytest.mark.server_env(OBSERVATORY_INITIATIVES_URL="http://127.0.0.1:1")
def test_a_service_that_is_down_gives_a_503_page(page: Page):
    visit(page, "/", status=503)
    expect(page.locator("h1")).to_have_text("Service unavailable")
    expect(page.get_by_role("alert")).to_contain_text("Try again later.")
    screenshot(page, "error-503")
    # The law guide does not need the initiatives service, so its page still works.
    visit(page, "/laws")
    expect(page.locator("table.matrix tbody tr")).not_to_have_count(0)
