"""What every browser test checks besides its own journey: what the page sent and what failed
(`Traffic`), what axe-core finds wrong for a keyboard or screen-reader user
(`accessibility_violations`), whether the page fits a narrow screen (`overflows_narrow_screen`),
and screenshots of each step kept as test artefacts (`Journey`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Where the screenshots of the journeys go; CI keeps the folder as an artefact.
SCREENSHOTS = Path(
    os.environ.get(
        "SCREENSHOTS_DIR", Path(__file__).resolve().parent.parent / ".run" / "screenshots"
    )
)
# WCAG 2.1 A and AA, and axe's best practices (landmarks, one main heading, ...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
NARROW_SCREEN = {"width": 360, "height": 740}

_axe = Axe()


@dataclass
class Traffic:
    """What a page sent, what failed, what the Content-Security-Policy stopped before it left
    the browser, and what the page complained of on its console."""

    urls: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    refused_by_csp: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page) -> Traffic:
        page.on("response", self._check_status)
        page.on("requestfailed", self._check_failure)
        page.on("console", self._check_console)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        return self

    def _check_status(self, response) -> None:
        self.urls.append(response.url)
        if response.status >= 400:
            self.failures.append(f"{response.url}: HTTP {response.status}")

    def _check_failure(self, request) -> None:
        if request.failure == "csp":
            self.refused_by_csp.append(request.url)
        else:  # sent, and no answer came back
            self.urls.append(request.url)
            # unless the browser itself dropped it: the page it belonged to was left before it
            # loaded (a favicon still on its way when a click navigates)
            if request.failure != "net::ERR_ABORTED" or request.resource_type == "document":
                self.failures.append(f"{request.url}: {request.failure}")

    def _check_console(self, message) -> None:
        # CSP refusals are reported on the console as errors ("... violates the following
        # Content Security Policy directive ..."), as are resources that failed to load.
        if message.type == "error":
            self.console_errors.append(message.text)

    def take_refusals(self, status: int) -> list[str]:
        """The pages answered with `status` so far, taken out of `problems()`: for a journey
        that is refused on purpose (a 402 for want of funds), and asserts it was."""
        refused = [failure for failure in self.failures if failure.endswith(f": HTTP {status}")]
        self.failures = [failure for failure in self.failures if failure not in refused]
        self.console_errors = [
            text for text in self.console_errors if f"status of {status} " not in text
        ]
        return [failure.removesuffix(f": HTTP {status}") for failure in refused]

    def outside_hosts(self) -> list[str]:
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme in ("http", "https")
            and urlsplit(url).hostname not in LOOPBACK_HOSTS
        ]

    def problems(self) -> list[str]:
        """Everything a clean page has none of: failed requests, CSP refusals, console errors,
        requests to other hosts."""
        return (
            self.failures
            + [f"refused by CSP: {url}" for url in self.refused_by_csp]
            + [f"console: {text}" for text in self.console_errors]
            + [f"outside request: {url}" for url in self.outside_hosts()]
        )


def accessibility_violations(page) -> list[str]:
    """axe-core's findings on the page as it is now, one line per rule and element."""
    results = _axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [
        f"{violation['id']} ({violation['impact']}): {', '.join(map(str, node['target']))}"
        f" — {violation['help']}"
        for violation in results.response["violations"]
        for node in violation["nodes"]
    ]


def overflows_narrow_screen(page) -> list[str]:
    """What sticks out of the page at a phone's width, making it scroll sideways as a whole
    (a wide table that scrolls inside its own box is fine): empty when nothing does."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width + 1) return [];
          return [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .filter(e => !e.parentElement.closest('table'))
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className && typeof e.className === 'string'
                         ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))
            .slice(0, 5);
        }"""
    )


@dataclass
class Journey:
    """Numbered screenshots of a journey's steps, in a folder named after the test."""

    name: str
    step: int = 0

    @property
    def folder(self) -> Path:
        return SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)

    def snap(self, page, what: str) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{re.sub(r'[^a-z0-9]+', '-', what.lower())}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path
