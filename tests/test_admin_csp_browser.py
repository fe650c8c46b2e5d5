"""The admin under the Content-Security-Policy, in headless Chromium: its pages load their
scripts and styles from static files, so the policy refuses nothing."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_sign_in_and_open_a_change_form_without_a_csp_refusal(
    live_server, page, django_user_model
):
    # given a staff member
    django_user_model.objects.create_superuser("ops@example.com", "an-admin-password-1")
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

    # when they sign in to the admin and open a GPU model's change form
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops@example.com")
    page.fill("#id_password", "an-admin-password-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/marketplace/gpumodel/")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("#content-main form")

    # then the form is there and the browser refused nothing; the only failure is the
    # /favicon.ico Chromium asks for on pages that name no icon (the admin's)
    assert page.locator("input[name=_save]").is_visible()
    assert {url.removeprefix(live_server.url) for url in failed} <= {"/favicon.ico"}
    assert [error for error in console_errors if "Failed to load resource" not in error] == []
