//! `radgate portal mikrotik`: the hotspot pages a Mikrotik router serves,
//! written from the configuration, as a venue would run it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn radgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_radgate"))
        .current_dir(dir)
        .arg("--config")
        .arg(dir.join("radgate.toml"))
        .args(args)
        .output()
        .unwrap()
}

fn venue(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("radgate.toml"),
        format!(
            "[[client]]\nname = \"hotspot\"\naddress = \"127.0.0.1\"\nsecret = \"a-long-secret-123\"\n\n\
             [[business]]\nid = 7\nname = \"Café <Rosa> & $(identity)\"\nlogo = \"logo.svg\"\n\
             accent_color = \"#2D6A4F\"\nterms_url = \"https://example.net/terms?a=1&b=2\"\n{extra}"
        ),
    )
    .unwrap();
    dir
}

/// The router's own `$(…)` in a page: only the variables and directives
/// radgate means, none coming from the venue's texts.
fn router_variables(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html
        .match_indices("$(")
        .map(|(i, _)| {
            let rest = &html[i + 2..];
            rest[..rest.find(')').unwrap()].to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_mikrotik_pages_are_branded_escaped_and_log_in_through_the_router() {
    let dir = venue("");
    let out = radgate(
        dir.path(),
        &["portal", "mikrotik", "--out", "hotspot", "--business", "7"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(dir.path().join("hotspot").join(f)).unwrap();
    let login = read("login.html");
    // The code alone, sent to the router: CHAP with its md5.js, else PAP.
    assert!(login.contains("action=\"$(link-login-only)\""));
    assert!(login.contains("<script src=\"/md5.js\"></script>"));
    assert!(login.contains("hexMD5('$(chap-id)' + c + '$(chap-challenge)')"));
    assert!(login.contains("f.password.value = c;"));
    assert!(login.contains("name=\"username\" type=\"text\" value=\"$(username)\" required"));
    assert!(login.contains("autocapitalize=\"characters\""));
    assert!(login.contains("<label for=\"code\" data-t=\"code_label\">Access code</label>"));
    assert!(login.contains(
        "$(if error)<p class=\"error\" role=\"alert\" id=\"error\">$(error)</p>$(endif)"
    ));
    // Branding, escaped; the venue's `$(` reaches the router as text only.
    assert!(login.contains("<h1>Café &lt;Rosa&gt; &amp; &#36;(identity)</h1>"));
    assert!(!login.contains("<Rosa>"));
    assert!(login.contains("background:#2d6a4f"));
    assert!(login.contains("src=\"data:image/svg+xml;base64,"));
    assert!(login.contains("<input type=\"checkbox\" id=\"terms\" required>"));
    assert!(login.contains("href=\"https://example.net/terms?a=1&amp;b=2\""));
    // Every language rides along; a refusal's text maps to its key.
    assert!(login.contains("\"de\":{") && login.contains("Zugangscode"));
    assert!(login.contains("Código de acceso") && login.contains("Code d’accès"));
    assert!(login.contains("\"Unknown access code\":\"unknown_code\""));
    for (name, page) in [
        ("login.html", &login),
        ("alogin.html", &read("alogin.html")),
        ("status.html", &read("status.html")),
    ] {
        assert!(page.len() < 30 * 1024, "{name}: {} bytes", page.len());
        for v in router_variables(page) {
            assert!(
                [
                    "chap-challenge",
                    "chap-id",
                    "endif",
                    "error",
                    "if chap-id",
                    "if error",
                    "if session-time-left",
                    "link-login-only",
                    "link-logout",
                    "link-orig",
                    "link-redirect",
                    "link-status",
                    "session-time-left",
                    "username"
                ]
                .contains(&v.as_str()),
                "{name}: $({v})"
            );
        }
    }
    assert!(read("status.html").contains("<strong>$(session-time-left)</strong>"));
    // Without --business: a plain page.
    let out = radgate(
        dir.path(),
        &["portal", "mikrotik", "--out", "plain", "--lang", "DE"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = std::fs::read_to_string(dir.path().join("plain/login.html")).unwrap();
    assert!(plain.contains("<html lang=\"de\">") && plain.contains("<h1>Wi-Fi</h1>"));
    assert!(plain.contains("data-t=\"code_label\">Zugangscode</label>"));
    assert!(!plain.contains("terms") || !plain.contains("id=\"terms\""));
}

#[test]
fn custom_refusal_texts_and_case_sensitive_codes_reach_the_page() {
    let dir = venue(
        "\n[messages]\nunknown_code = \"Codice sconosciuto\"\n\n[auth]\ncase_sensitive_codes = true\n",
    );
    let out = radgate(dir.path(), &["portal", "mikrotik", "--out", "h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = std::fs::read_to_string(dir.path().join("h/login.html")).unwrap();
    assert!(login.contains("\"Codice sconosciuto\":\"unknown_code\""));
    assert!(login.contains("autocapitalize=\"off\""));
}

#[test]
fn bad_portal_input_is_refused_naming_it() {
    let dir = venue("");
    let err = |args: &[&str]| {
        let out = radgate(dir.path(), args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["portal", "mikrotik", "--out", "h", "--business", "8"]);
    assert!(
        e.contains("--business 8") && e.contains("(those with: 7)"),
        "{e}"
    );
    let e = err(&["portal", "mikrotik", "--out", "h", "--lang", "it"]);
    assert!(e.contains("--lang \"it\": one of en, de, fr, es"), "{e}");
    assert!(!dir.path().join("h").exists());
    for (line, want) in [
        (
            "accent_color = \"#ffcc00\"",
            "business[0].accent_color: #ffcc00: white text on it has a contrast of 1.5:1",
        ),
        ("logo = \"missing.png\"", "business[0].logo: cannot read"),
        (
            "terms_url = \"javascript:alert(1)\"",
            "business[0].terms_url: \"javascript:alert(1)\" is not an http",
        ),
        (
            "name = \"\"",
            "business[0].name: must be 1 to 80 characters",
        ),
    ] {
        let key = line.split(' ').next().unwrap();
        let text = std::fs::read_to_string(dir.path().join("radgate.toml")).unwrap();
        let (head, business) = text.split_once("[[business]]").unwrap();
        let business: String = business
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} ")) {
                    line.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let bad = format!("{head}[[business]]{business}");
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(d2.path().join("radgate.toml"), bad).unwrap();
        std::fs::copy(dir.path().join("logo.svg"), d2.path().join("logo.svg")).unwrap();
        let out = radgate(d2.path(), &["check-config"]);
        assert!(!out.status.success(), "{line}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(want), "{line}: {e}");
    }
    // A logo over the budget.
    std::fs::write(dir.path().join("logo.svg"), vec![b' '; 21 * 1024]).unwrap();
    let out = radgate(dir.path(), &["check-config"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("a logo may have at most 20 kB"),
        "{e}"
    );
}

/// What a Mikrotik router does to a page before a browser sees it: `$(if
/// VAR)…$(endif)` kept when VAR is set, `$(VAR)` replaced.
fn as_router_serves(page: &str, vars: &[(&str, &str)]) -> String {
    let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let mut out = String::new();
    let mut rest = page;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap();
        let name = &after[..end];
        rest = &after[end + 1..];
        if let Some(var) = name.strip_prefix("if ") {
            let close = rest.find("$(endif)").unwrap();
            if get(var).is_some() {
                out.push_str(&as_router_serves(&rest[..close], vars));
            }
            rest = &rest[close + "$(endif)".len()..];
        } else {
            out.push_str(get(name).unwrap_or(""));
        }
    }
    out.push_str(rest);
    out
}

/// The page's own JavaScript in a real browser: the code trimmed, CHAP's
/// MD5 over chap-id, code, chap-challenge in that order (the router's
/// octal-escaped values), PAP when the router offers no CHAP, and the
/// router's refusal shown in the browser's language.
#[test]
fn the_login_page_computes_what_the_router_expects_in_a_browser() {
    let Some(chromium) = common::tool("chromium", "chromium") else {
        return;
    };
    let dir = venue("");
    let out = radgate(
        dir.path(),
        &["portal", "mikrotik", "--out", "h", "--business", "7"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = std::fs::read_to_string(dir.path().join("h/login.html")).unwrap();
    // A stand-in for the router's md5.js that shows what it was given.
    std::fs::write(
        dir.path().join("md5.js"),
        "function hexMD5(s) { var o = ''; for (var i = 0; i < s.length; i++) \
         o += s.charCodeAt(i).toString(16) + '.'; return o; }",
    )
    .unwrap();
    let drive = "<script>\n\
        document.login.username.value = '  welcome1 ';\n\
        if (document.sendin) document.sendin.submit = function () {\n\
          document.title = 'SENT ' + this.username.value + ' ' + this.password.value; };\n\
        var r = doLogin();\n\
        if (r) document.title = 'PAP ' + document.login.username.value + ' ' + document.login.password.value;\n\
        document.title += ' ERR ' + (document.getElementById('error') || {}).textContent;\n\
        </script></body>";
    let run = |name: &str, vars: &[(&str, &str)], lang: &str| {
        let page = as_router_serves(&login, vars)
            .replace("src=\"/md5.js\"", "src=\"md5.js\"")
            .replace("</body>", drive);
        std::fs::write(dir.path().join(name), page).unwrap();
        let out = Command::new(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--allow-file-access-from-files",
                &format!("--accept-lang={lang}"),
                "--dump-dom",
            ])
            .arg(format!("file://{}", dir.path().join(name).display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        let title = dom
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or_default()
            .to_string();
        title
    };
    let chap = run(
        "chap.html",
        &[
            ("chap-id", "\\001"),
            ("chap-challenge", "\\002\\377"),
            ("link-login-only", "http://10.5.50.1/login"),
            ("error", "Unknown access code"),
        ],
        "de-DE,de",
    );
    assert_eq!(
        chap,
        "SENT welcome1 1.77.65.6c.63.6f.6d.65.31.2.ff. ERR Unbekannter Zugangscode"
    );
    let pap = run(
        "pap.html",
        &[("link-login-only", "http://10.5.50.1/login")],
        "es",
    );
    assert_eq!(pap, "PAP welcome1 welcome1 ERR undefined");
    let other = run(
        "other.html",
        &[("error", "RADIUS server is not responding")],
        "fr",
    );
    assert!(
        other.ends_with("ERR La connexion a échoué. Vérifiez le code et réessayez."),
        "{other}"
    );
}
