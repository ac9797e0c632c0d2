//! The admin web UI in a real browser (headless Chromium over WebDriver):
//! a desk operator signs in, searches, opens a code, signs out — at a
//! phone's and a desktop's size, with screenshots in
//! target/tmp/browser-shots/.

mod common;

use std::time::Duration;

use common::browser::{self, Browser, DESKTOP, PHONE};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use radgate::store::operators::Role;

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

#[tokio::test]
async fn a_desk_operator_signs_in_and_finds_a_code() {
    for size in [PHONE, DESKTOP] {
        let s = common::TestServer::start_with(|c| {
            c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        s.operator("anna", Role::Desk, vec![]).await;
        s.token("ROOM12-AB", 1440, |t| {
            t.description = Some("Room 12, Ms Weber".into());
            t.mac_address = Some("AA-BB-CC-00-11-22".into());
        })
        .await;
        s.token("CAFE-7KQ2", 120, |t| {
            t.description = Some("Day pass".into())
        })
        .await;
        s.store
            .create_preset(
                &radgate::store::presets::NewPreset {
                    name: "2 hours".into(),
                    business_id: 0,
                    minutes_included: 120,
                    valid_for_minutes: None,
                    user_limit: Some(1),
                    single_use: false,
                    megabytes_included: None,
                },
                0,
                &common::test_actor(),
            )
            .await
            .unwrap();
        let base = format!("http://{}", s.api_addr.unwrap());
        let Some(b) = Browser::start("ui-desk", size, "en", true).await else {
            return;
        };
        let shots = b.shots();
        b.run(move |c| async move {
            c.goto(&format!("{base}/tokens")).await.unwrap();
            // Not signed in: the sign-in page.
            find(&c, "#username").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "1-sign-in").await;
            find(&c, "#username").await.send_keys("anna").await.unwrap();
            find(&c, "#password")
                .await
                .send_keys("wrong password!")
                .await
                .unwrap();
            find(&c, "button[type=submit]").await.click().await.unwrap();
            assert_eq!(
                browser::text(&c, "p.error").await,
                "Wrong name or password."
            );
            find(&c, "#password")
                .await
                .send_keys("correct horse battery")
                .await
                .unwrap();
            find(&c, "button[type=submit]").await.click().await.unwrap();
            browser::wait_text(&c, "h1", "Codes").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "2-codes").await;
            // Search by part of the description.
            find(&c, "#q").await.send_keys("weber").await.unwrap();
            find(&c, "form.search button").await.click().await.unwrap();
            browser::wait_url(&c, "the search", |u| u.contains("q=weber")).await;
            let rows = c.find_all(Locator::Css("tbody tr")).await.unwrap();
            assert_eq!(rows.len(), 1);
            browser::shot(&c, &shots, "3-search").await;
            find(&c, "td.code a").await.click().await.unwrap();
            browser::wait_text(&c, "h1 .code", "ROOM12-AB").await;
            assert!(browser::text(&c, "dl.facts").await.contains("1 day"));
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "4-code").await;
            // Add an hour, then revoke with a reason.
            c.execute("document.getElementById('minutes').value = '60';", vec![])
                .await
                .unwrap();
            find(&c, "form[action$='/extend'] button")
                .await
                .click()
                .await
                .unwrap();
            // The page after the change: 25 hours of 25 hours.
            browser::wait_contains(&c, "dl.facts", "25 hours of 25 hours").await;
            find(&c, "#reason")
                .await
                .send_keys("Guest checked out")
                .await
                .unwrap();
            find(&c, "form[action$='/revoke'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1 .status", "expired").await;
            browser::shot(&c, &shots, "5-revoked").await;
            // Quick issue: two codes of a preset, straight to their receipts.
            c.goto(&format!("{base}/tokens")).await.unwrap();
            let count = find(&c, "form[action='/issue'] input[name=count]").await;
            count.clear().await.unwrap();
            count.send_keys("2").await.unwrap();
            find(&c, "form[action='/issue'] input[name=guest_name]")
                .await
                .send_keys("Mr Okafor")
                .await
                .unwrap();
            find(&c, "form[action='/issue'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_url(&c, "the print view", |u| u.contains("/print?ids=")).await;
            let n = c.find_all(Locator::Css(".receipt")).await.unwrap().len();
            assert_eq!(n, 2);
            assert!(browser::text(&c, ".receipt .guest")
                .await
                .contains("For Mr Okafor"));
            browser::shot(&c, &shots, "5b-issued").await;
            c.back().await.unwrap();
            c.goto(&format!("{base}/tokens?q=weber")).await.unwrap();
            find(&c, "td.code a").await.click().await.unwrap();
            browser::wait_text(&c, "h1 .code", "ROOM12-AB").await;
            // The receipt for the desk's printer.
            find(&c, "a[href$='/receipt']").await.click().await.unwrap();
            browser::wait_text(&c, ".receipt .code", "ROOM12-AB").await;
            browser::shot(&c, &shots, "6-receipt").await;
            c.back().await.unwrap();
            // Sign out.
            find(&c, "header form button").await.click().await.unwrap();
            find(&c, "#username").await;
            c.goto(&format!("{base}/tokens")).await.unwrap();
            find(&c, "#username").await;
        })
        .await;
        s.shutdown().await;
    }
}

/// An admin adds an operator in the browser, at a phone's and a desktop's
/// size; the operators page fits the screen.
#[tokio::test]
async fn an_admin_adds_an_operator() {
    for size in [PHONE, DESKTOP] {
        let s = common::TestServer::start_with(|c| {
            c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        s.operator("boss", Role::Admin, vec![]).await;
        let base = format!("http://{}", s.api_addr.unwrap());
        let Some(b) = Browser::start("ui-admin", size, "en", true).await else {
            return;
        };
        let shots = b.shots();
        b.run(move |c| async move {
            c.goto(&format!("{base}/login")).await.unwrap();
            find(&c, "#username").await.send_keys("boss").await.unwrap();
            find(&c, "#password")
                .await
                .send_keys("correct horse battery")
                .await
                .unwrap();
            find(&c, "button[type=submit]").await.click().await.unwrap();
            browser::wait_text(&c, "h1", "Codes").await;
            find(&c, "a[href='/operators']")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "Operators").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "1-operators").await;
            find(&c, "#new-name").await.send_keys("nina").await.unwrap();
            find(&c, "#new-biz").await.send_keys("3").await.unwrap();
            find(&c, "#new-pw")
                .await
                .send_keys("another long one")
                .await
                .unwrap();
            find(&c, ".add-operator button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_contains(&c, "tbody", "nina").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "2-added").await;
            // Nina becomes a manager and is disabled; then gets a new
            // password.
            let row = "tbody tr:nth-child(2)";
            assert!(browser::text(&c, row).await.contains("nina"));
            c.execute(
                "var f = document.querySelectorAll('tbody tr')[1].querySelector('form[action=\"/operators/update\"]');\
                 f.querySelector('select').value = 'manager';",
                vec![],
            )
            .await
            .unwrap();
            find(&c, &format!("{row} form[action='/operators/update'] label[for^=off]"))
                .await
                .click()
                .await
                .unwrap();
            find(&c, &format!("{row} form[action='/operators/update'] button"))
                .await
                .click()
                .await
                .unwrap();
            browser::wait_contains(&c, row, "disabled").await;
            find(&c, &format!("{row} input[type=password]"))
                .await
                .send_keys("a third long one")
                .await
                .unwrap();
            find(&c, &format!("{row} form[action='/operators/password'] button"))
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "Operators").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "3-changed").await;
        })
        .await;
        let nina = s
            .store
            .operators()
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.name == "nina")
            .unwrap();
        assert_eq!(nina.role, Role::Manager);
        assert!(nina.disabled_on.is_some());
        let (_, hash) = s.store.operator_password("nina").await.unwrap().unwrap();
        assert!(radgate::store::operators::verify_password(
            "a third long one",
            &hash
        ));
        s.shutdown().await;
    }
}

/// Sign in as `name` (the tests' operator password) and wait for the
/// Codes page.
async fn sign_in(c: &Client, base: &str, name: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    find(c, "#username").await.send_keys(name).await.unwrap();
    find(c, "#password")
        .await
        .send_keys(common::OPERATOR_PASSWORD)
        .await
        .unwrap();
    find(c, "button[type=submit]").await.click().await.unwrap();
    browser::wait_text(c, "h1", "Codes").await;
}

/// Wait until `n` elements match `css`.
async fn wait_count(c: &Client, css: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = c
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        if seen == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css}: {seen}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The desk's conveniences: results as it types (no Search click), codes
/// ticked in the results printed together, the Copy button on a code's
/// page.
#[tokio::test]
async fn the_desk_searches_as_it_types_prints_a_selection_and_copies() {
    for size in [PHONE, DESKTOP] {
        let s = common::TestServer::start_with(|c| {
            c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        s.operator("anna", Role::Desk, vec![]).await;
        for (code, what) in [
            ("ROOM12-AB", "Room 12, Ms Weber"),
            ("ROOM14-CD", "Room 14, Mr Okafor"),
            ("CAFE-7KQ2", "Day pass"),
        ] {
            s.token(code, 120, |t| t.description = Some(what.into()))
                .await;
        }
        let base = format!("http://{}", s.api_addr.unwrap());
        let Some(b) = Browser::start("ui-desk-typing", size, "en", true).await else {
            return;
        };
        let shots = b.shots();
        b.run(move |c| async move {
            // Keyboard only: the name field has the focus, Tab to the
            // password, Enter signs in; the search box then has the focus.
            c.goto(&format!("{base}/login")).await.unwrap();
            find(&c, "#username").await;
            let tab = char::from(Key::Tab);
            let enter = char::from(Key::Enter);
            let active = || async {
                c.execute(
                    "return document.activeElement.id || document.activeElement.tagName;",
                    vec![],
                )
                .await
                .unwrap()
                .as_str()
                .unwrap_or("")
                .to_string()
            };
            assert_eq!(active().await, "username");
            c.active_element()
                .await
                .unwrap()
                .send_keys(&format!("anna{tab}"))
                .await
                .unwrap();
            assert_eq!(active().await, "password");
            c.active_element()
                .await
                .unwrap()
                .send_keys(&format!("{}{enter}", common::OPERATOR_PASSWORD))
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "Codes").await;
            assert_eq!(active().await, "q");
            wait_count(&c, "#results tbody tr", 3).await;
            // Typing narrows the list, without pressing Search.
            find(&c, "#q").await.send_keys("room").await.unwrap();
            wait_count(&c, "#results tbody tr", 2).await;
            browser::wait_url(&c, "the typed search", |u| u.ends_with("/tokens?q=room")).await;
            find(&c, "#q").await.send_keys("14").await.unwrap();
            wait_count(&c, "#results tbody tr", 1).await;
            browser::wait_text(&c, "#results td.code a", "ROOM14-CD").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "1-typed").await;
            // Tick two codes and print them.
            let q = find(&c, "#q").await;
            q.clear().await.unwrap();
            q.send_keys("room").await.unwrap();
            wait_count(&c, "#results tbody tr", 2).await;
            for tick in c
                .find_all(Locator::Css("#results label.tick"))
                .await
                .unwrap()
            {
                tick.click().await.unwrap();
            }
            browser::shot(&c, &shots, "2-ticked").await;
            find(&c, "#results .print-links button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_url(&c, "the print view", |u| u.contains("/print?ids=")).await;
            wait_count(&c, ".receipt", 2).await;
            browser::shot(&c, &shots, "3-printed").await;
            // A code's page copies its code.
            c.goto(&format!("{base}/tokens?q=cafe")).await.unwrap();
            find(&c, "#results td.code a").await.click().await.unwrap();
            browser::wait_text(&c, "h1 .code", "CAFE-7KQ2").await;
            let copy = find(&c, "button[data-copy]").await;
            assert!(copy.is_displayed().await.unwrap(), "the script shows Copy");
            copy.click().await.unwrap();
            browser::wait_text(&c, "button[data-copy]", "Copied").await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "4-copied").await;
        })
        .await;
        s.shutdown().await;
    }
}

/// A manager's pages in the browser, at a phone's and a desktop's size:
/// the dashboard, a batch (its counts, Extend all, print its unused
/// codes), an import from a file, presets, the audit log and Online now —
/// each fits the screen with touch-sized controls.
#[tokio::test]
async fn a_manager_works_with_batches_imports_and_the_dashboard() {
    for size in [PHONE, DESKTOP] {
        let s = common::TestServer::start_with(|c| {
            c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        s.operator("mia", Role::Manager, vec![]).await;
        s.batch("Conference, day 1", 0, 3, Some("2099-01-01T00:00:00Z"))
            .await;
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("guests.csv");
        std::fs::write(
            &csv,
            "AccessCode,MinutesIncluded,Description\nGUEST-01,60,Mr Okafor\nGUEST-02,60,Ms Weber\n",
        )
        .unwrap();
        let base = format!("http://{}", s.api_addr.unwrap());
        let Some(b) = Browser::start("ui-manager", size, "en", true).await else {
            return;
        };
        let shots = b.shots();
        b.run(move |c| async move {
            sign_in(&c, &base, "mia").await;
            // The dashboard: four charts.
            find(&c, "a[href='/dashboard']")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "Dashboard").await;
            wait_count(&c, "svg[role=img]", 4).await;
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "1-dashboard").await;
            // Batches: the conference's three codes, all unused.
            find(&c, "a[href='/batches']").await.click().await.unwrap();
            browser::wait_text(&c, "h1", "Batches").await;
            assert_eq!(browser::text(&c, "td[data-label=Unused]").await, "3");
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "2-batches").await;
            find(&c, "td[data-label=Batch] a")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "Conference, day 1").await;
            c.execute("document.getElementById('minutes').value = '60';", vec![])
                .await
                .unwrap();
            find(&c, "form[action$='/extend'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "p.notice", "Extended 3 codes.").await;
            assert!(browser::text(&c, "#results, table")
                .await
                .contains("2 hours"));
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "3-batch-extended").await;
            find(&c, "a[href^='/print?batch=']")
                .await
                .click()
                .await
                .unwrap();
            wait_count(&c, ".receipt", 3).await;
            browser::shot(&c, &shots, "4-batch-printed").await;
            c.back().await.unwrap();
            // Import a file.
            c.goto(&format!("{base}/import")).await.unwrap();
            browser::wait_text(&c, "h1", "Import codes").await;
            browser::fits_and_touchable(&c).await;
            find(&c, "#file")
                .await
                .send_keys(&csv.display().to_string())
                .await
                .unwrap();
            find(&c, "form[action='/import'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "div.notice p", "Imported 2 code(s) from guests.csv.").await;
            browser::shot(&c, &shots, "5-imported").await;
            // An API key for the booking system: shown once, then listed
            // by its short form; revoked.
            find(&c, "a[href='/apikeys']").await.click().await.unwrap();
            browser::wait_text(&c, "h1", "API keys").await;
            browser::fits_and_touchable(&c).await;
            find(&c, "#k-name")
                .await
                .send_keys("booking-system")
                .await
                .unwrap();
            find(&c, "label[for=role-1]").await.click().await.unwrap();
            find(&c, "form[action='/apikeys/add'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_text(&c, "h1", "API key created").await;
            let key = browser::text(&c, "#new-key").await;
            assert!(key.starts_with("rgk_"), "{key}");
            let copy = find(&c, "button[data-copy]").await;
            assert!(copy.is_displayed().await.unwrap());
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "6-api-key").await;
            c.goto(&format!("{base}/apikeys")).await.unwrap();
            browser::wait_text(&c, "h1", "API keys").await;
            let page = browser::text(&c, "main").await;
            assert!(
                page.contains("booking-system") && !page.contains(&key),
                "the key is shown once"
            );
            find(&c, "form[action='/apikeys/revoke'] label")
                .await
                .click()
                .await
                .unwrap();
            find(&c, "form[action='/apikeys/revoke'] button")
                .await
                .click()
                .await
                .unwrap();
            browser::wait_url(&c, "the revoked notice", |u| u.contains("revoked=")).await;
            assert!(browser::text(&c, "main").await.contains("No live API key"));
            // The other manager pages fit too.
            for (path, title, shot) in [
                ("/presets", "Presets", "6b-presets"),
                ("/audit", "Audit log", "7-audit"),
                ("/sessions", "Online now", "8-online"),
            ] {
                c.goto(&format!("{base}{path}")).await.unwrap();
                browser::wait_text(&c, "h1", title).await;
                browser::fits_and_touchable(&c).await;
                browser::shot(&c, &shots, shot).await;
            }
            drop(dir);
        })
        .await;
        s.shutdown().await;
    }
}

/// The accessibility check finds what it should: grey on grey, a field
/// without a label, an image without a text.
#[tokio::test]
async fn the_accessibility_check_finds_problems() {
    let Some(b) = Browser::start("axe-check", DESKTOP, "en", true).await else {
        return;
    };
    b.run(|c| async move {
        c.goto("data:text/html,<!doctype html><html lang=en><title>t</title><main><p style='color:%23aaa;background:%23bbb'>faint</p><input type=text><img src='data:,'></main></html>")
            .await
            .unwrap();
        let found = browser::violations(&c).await;
        let ids: Vec<String> = found
            .iter()
            .filter_map(|v| v.as_str())
            .map(|v| v.split(' ').next().unwrap_or("").to_string())
            .collect();
        for want in ["color-contrast", "label", "image-alt"] {
            assert!(ids.iter().any(|i| i == want), "{want} not found: {found:?}");
        }
    })
    .await;
}
