//! `radgate portal mikrotik`: the hotspot pages a Mikrotik router serves,
//! written from the configuration, as a venue would run it.

mod common;

use common::hotspot::as_router_serves;

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
    assert!(read("status.html").contains("<strong id=\"left\">$(session-time-left)</strong>"));
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
    assert!(
        plain.contains("<html lang=\"de\">")
            && plain.contains("<h1><span data-t=\"title\">WLAN-Zugang</span></h1>")
    );
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
        other.ends_with("ERR La connexion a échoué. Réessayez dans un instant."),
        "{other}"
    );
    // The status page: the time left, and until when on the phone's clock.
    let status = std::fs::read_to_string(dir.path().join("h/status.html")).unwrap();
    let status = as_router_serves(
        &status,
        &[("session-time-left", "1h23m"), ("link-logout", "/logout")],
    );
    std::fs::write(dir.path().join("status-now.html"), status).unwrap();
    let out = Command::new(&chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--accept-lang=de",
            "--dump-dom",
        ])
        .arg(format!(
            "file://{}",
            dir.path().join("status-now.html").display()
        ))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<strong id=\"left\">1h23m</strong>"), "{dom}");
    assert!(
        dom.contains("<span id=\"until\">(<span data-t=\"until\">bis</span> <span id=\"at\">"),
        "{dom}"
    );
    assert!(!dom.contains("<span id=\"at\"></span>"), "{dom}");
}

/// One HTTP/1.1 request to the portal: (status, headers, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = form
        .map(|f| serde_urlencoded::to_string(f).unwrap())
        .unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if form.is_some() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, text.to_string())
}

/// radclient's Access-Request from `input` (attribute lines) to radgate on
/// loopback `port`: its output.
async fn radclient_auth(radclient: std::path::PathBuf, port: u16, input: String) -> String {
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(radclient)
            .args([
                "-x",
                "-r",
                "2",
                "-t",
                "3",
                &format!("127.0.0.1:{port}"),
                "auth",
                "testing123",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Mikrotik with the external page: the router's variables arrive, the
/// guest types the code, the browser goes to the router's login with the
/// CHAP answer (which radgate accepts over RADIUS, sent by radclient), or
/// the code for PAP; never to an address outside login_targets, never
/// from another site's form.
#[tokio::test]
async fn the_portal_logs_a_guest_in_through_a_mikrotik_router() {
    let s = common::TestServer::start_with(|c| {
        c.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        c.portal.public_url = Some("http://wifi.example.net:8081".into());
        c.branding.insert(
            7,
            radgate::portal::Branding {
                name: "Café <Rosa>".into(),
                terms_url: Some("https://example.net/terms".into()),
                ..Default::default()
            },
        );
    })
    .await;
    s.token("WELCOME1", 60, |_| {}).await;
    let addr = s.portal_addr.unwrap();
    let router: &[(&str, &str)] = &[
        ("link-login-only", "http://10.5.50.1/login"),
        ("link-orig", "http://example.com/"),
        ("chap-id", "\\371"),
        (
            "chap-challenge",
            "\\357\\015\\330\\100\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012\\013\\316",
        ),
        ("error", "Unknown access code"),
        ("mac", "02:00:00:00:00:01"),
    ];
    // The router's page forwards its variables (a form post); German.
    let (status, h, page) = http(
        addr,
        "POST",
        "/mikrotik?business=7",
        &[("Accept-Language", "de-DE,de;q=0.9")],
        Some(router),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"de\">"));
    assert!(page.contains("<p class=\"error\" role=\"alert\">Unbekannter Zugangscode</p>"));
    assert!(page.contains("<label for=\"code\">Zugangscode</label>"));
    assert!(page.contains("<input type=\"hidden\" name=\"chap-id\" value=\"\\371\">"));
    assert!(!page.contains("<script"), "no JavaScript needed");
    assert!(page.len() < 30 * 1024);
    assert_eq!(header(&h, "x-frame-options"), Some("DENY"));
    assert!(header(&h, "content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(header(&h, "cache-control"), Some("no-store"));
    assert!(
        !page.contains("02:00:00:00:00:01"),
        "the MAC is not carried"
    );
    // Branded by ?business (query) too; escaped.
    let (_, _, branded) = http(
        addr,
        "GET",
        "/mikrotik?business=7&link-login-only=http%3A%2F%2F10.5.50.1%2Flogin",
        &[],
        None,
    )
    .await;
    assert!(
        branded.contains("<h1>Café &lt;Rosa&gt;</h1>")
            && branded.contains("name=\"terms\" required")
    );

    // The guest types the code (spaces around, lower case).
    let mut login: Vec<(&str, &str)> = router
        .iter()
        .copied()
        .filter(|(k, _)| *k != "error")
        .collect();
    login.push(("code", "  welcome1 "));
    let (status, h, _) = http(
        addr,
        "POST",
        "/mikrotik/login",
        &[("Sec-Fetch-Site", "same-origin")],
        Some(&login),
    )
    .await;
    assert_eq!(status, 303);
    let location = header(&h, "location").unwrap().to_string();
    let id = radgate::portal::chap::unescape_octal("\\371").unwrap();
    let challenge = radgate::portal::chap::unescape_octal(router[3].1).unwrap();
    let answer = radgate::portal::chap::answer(&id, "welcome1", &challenge);
    assert_eq!(
        location,
        format!("http://10.5.50.1/login?username=welcome1&password={answer}&dst=http%3A%2F%2Fexample.com%2F&popup=true")
    );
    // That answer is what radgate accepts from the router over RADIUS.
    if let Some(radclient) = common::tool("radclient", "freeradius-utils") {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let input = format!(
            "User-Name = \"welcome1\"\nCHAP-Password = 0x{}{answer}\nCHAP-Challenge = 0x{}\nMessage-Authenticator = 0x00\n",
            hex(&id),
            hex(&challenge)
        );
        let port = s.addr.port();
        let text = radclient_auth(radclient, port, input).await;
        assert!(text.contains("Received Access-Accept"), "{text}");
    }
    // A router without CHAP: the code itself (PAP).
    let pap = [
        ("link-login-only", "http://10.5.50.1/login"),
        ("code", "WELCOME1"),
    ];
    let (status, h, _) = http(addr, "POST", "/mikrotik/login", &[], Some(&pap)).await;
    assert_eq!(status, 303);
    assert_eq!(
        header(&h, "location"),
        Some("http://10.5.50.1/login?username=WELCOME1&password=WELCOME1&popup=true")
    );
    // Terms of use to accept.
    let terms = [
        ("link-login-only", "http://10.5.50.1/login"),
        ("business", "7"),
        ("code", "WELCOME1"),
    ];
    let (status, _, page) = http(addr, "POST", "/mikrotik/login", &[], Some(&terms)).await;
    assert_eq!(status, 200);
    assert!(page.contains("<p class=\"error\" role=\"alert\">Please accept the terms of use.</p>"));
    // Never elsewhere, never from another site.
    let away = [
        ("link-login-only", "http://203.0.113.5/login"),
        ("code", "WELCOME1"),
    ];
    let (status, h, page) = http(addr, "POST", "/mikrotik/login", &[], Some(&away)).await;
    assert_eq!(status, 400);
    assert!(header(&h, "location").is_none());
    assert!(page.contains("Open this page through the Wi-Fi"));
    let (status, _, _) = http(
        addr,
        "POST",
        "/mikrotik/login",
        &[("Sec-Fetch-Site", "cross-site")],
        Some(&pap),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = http(
        addr,
        "POST",
        "/mikrotik/login",
        &[("Origin", "http://evil.example")],
        Some(&pap),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = http(addr, "GET", "/mikrotik", &[], None).await;
    assert_eq!(status, 400);
    let (status, _, _) = http(addr, "GET", "/nothing", &[], None).await;
    assert_eq!(status, 404);
}

#[test]
fn the_external_login_page_forwards_to_the_portal() {
    let dir = venue(
        "\n[portal]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://wifi.example.net:8081/\"\n",
    );
    let out = radgate(
        dir.path(),
        &[
            "portal",
            "mikrotik",
            "--out",
            "h",
            "--business",
            "7",
            "--external",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = std::fs::read_to_string(dir.path().join("h/login.html")).unwrap();
    assert!(
        login.contains(
            "action=\"http://wifi.example.net:8081/mikrotik?business=7\" method=\"post\""
        ),
        "{login}"
    );
    for v in [
        "link-login-only",
        "link-orig",
        "chap-id",
        "chap-challenge",
        "error",
    ] {
        assert!(
            login.contains(&format!("name=\"{v}\" value=\"$({v})\"")),
            "{v}"
        );
    }
    assert!(login.contains("document.redirect.submit()"));
    assert!(std::fs::read_to_string(dir.path().join("h/status.html"))
        .unwrap()
        .contains("$(session-time-left)"));
    // Without [portal] public_url: said so.
    let dir = venue("");
    let out = radgate(
        dir.path(),
        &["portal", "mikrotik", "--out", "h", "--external"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--external: the configuration"));
}

#[test]
fn bad_portal_settings_are_refused_naming_them() {
    for (section, want) in [
        (
            "[portal]\nlisten = \"127.0.0.1:0\"\n",
            "portal.public_url: is required with portal.listen",
        ),
        (
            "[portal]\npublic_url = \"wifi.example.net\"\n",
            "portal.public_url: \"wifi.example.net\" is not an address",
        ),
        (
            "[portal]\nlogin_targets = [\"10.0.0.0/33\"]\n",
            "portal.login_targets: \"10.0.0.0/33\" is not an IP address or CIDR range",
        ),
        (
            "[portal]\nlisten = \"8081\"\npublic_url = \"http://x\"\n",
            "portal.listen: \"8081\" is not a listen address",
        ),
        (
            "[portal]\nlogin_targets = []\n",
            "portal.login_targets: is empty",
        ),
        (
            "[portal]\npublic_url = \"http://user@wifi.example.net\"\n",
            "portal.public_url: \"http://user@wifi.example.net\" is not an address",
        ),
    ] {
        let dir = venue(section);
        let out = radgate(dir.path(), &["check-config"]);
        assert!(!out.status.success(), "{section}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(want), "{section}: {e}");
    }
    let dir = venue("[portal]\nlogin_targets = [\"192.168.88.0/24\", \"hotspot.lan\"]\n");
    let out = radgate(dir.path(), &["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("login targets 192.168.88.0/24, hotspot.lan"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "guest page of business 7: name \"Café <Rosa> & $(identity)\", logo image/svg+xml,"
        ),
        "{summary}"
    );
    // TLS files: both, readable, a certificate and its key; named when not.
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    for (section, want) in [
        (
            "[portal]\ntls_cert = \"cert.pem\"\n",
            "portal.tls_key: is required with portal.tls_cert",
        ),
        (
            "[portal]\ntls_cert = \"nothere.pem\"\ntls_key = \"key.pem\"\n",
            "portal.tls_cert: cannot read",
        ),
        (
            "[portal]\ntls_cert = \"cert.pem\"\ntls_key = \"cert.pem\"\n",
            "portal.tls_key: ",
        ),
        (
            "[[client]]\nname = \"mt\"\naddress = \"10.5.50.1\"\nsecret = \"a-long-secret-456\"\n\
             hotspot_login_url = \"ftp://10.5.50.1/\"\n",
            "hotspot_login_url: \"ftp://10.5.50.1/\" is not an address",
        ),
    ] {
        let dir = venue(section);
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        let out = radgate(dir.path(), &["check-config"]);
        assert!(!out.status.success(), "{section}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(want), "{section}: {e}");
    }
    let dir = venue(
        "[portal]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://wifi.example.net\"\n\
         tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\n\
         [[client]]\nname = \"mt\"\naddress = \"10.5.50.1\"\nsecret = \"a-long-secret-456\"\n\
         hotspot_login_url = \"http://10.5.50.1/login\"\n",
    );
    std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    let out = radgate(dir.path(), &["check-config"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains("reached at https://wifi.example.net (HTTPS, certificate "),
        "{summary}"
    );
    assert!(
        summary.contains(", hotspot login http://10.5.50.1/login"),
        "{summary}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hotspot_login_url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The captive portal API without HTTPS: said so.
    let dir = venue(
        "[[client]]\nname = \"mt\"\naddress = \"10.5.50.1\"\nsecret = \"a-long-secret-456\"\n\
         hotspot_login_url = \"http://10.5.50.1/login\"\n",
    );
    let out = radgate(dir.path(), &["check-config"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: client \"mt\" has hotspot_login_url, but phones use the captive portal API only over HTTPS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = venue("[portal]\nlogin_targets = [\"0.0.0.0/0\"]\n");
    let out = radgate(dir.path(), &["check-config"]);
    assert!(out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("warning: portal.login_targets holds 0.0.0.0/0"),
        "{e}"
    );
}

/// CoovaChilli (UAM): the redirect is checked with the client's uamsecret,
/// the code page leads to the hotspot's logon with the CHAP response over
/// MD5(challenge ‖ secret) — which radgate accepts when the hotspot sends
/// it over RADIUS — and res=failed / success show the refusal / the time
/// left.
#[tokio::test]
async fn the_portal_logs_a_guest_in_through_coovachilli() {
    use md5::{Digest, Md5};
    const SECRET: &str = "uamsecret1";
    let s = common::TestServer::start_with(|c| {
        c.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        c.portal.public_url = Some("http://wifi.example.net:8081".into());
        let mut chilli = c.clients[0].clone();
        chilli.name = "chilli".into();
        chilli.network = "10.1.0.0/24".parse().unwrap();
        chilli.uam_secret = Some(SECRET.into());
        c.clients.push(chilli);
    })
    .await;
    s.token("WELCOME1", 60, |_| {}).await;
    let addr = s.portal_addr.unwrap();
    let sign = |query: &str| {
        let mut h = Md5::new();
        h.update(format!("http://wifi.example.net:8081/chilli?{query}").as_bytes());
        h.update(SECRET.as_bytes());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    };
    let query = "res=notyet&uamip=10.1.0.1&uamport=3990&challenge=0123456789abcdef0123456789abcdef\
                 &mac=02-00-00-00-00-01&ip=10.1.0.5&userurl=http%3A%2F%2Fexample.com%2F";
    assert_eq!(sign(query), "7048EA4EFAE97FC1E282748594ED99BC");
    let (status, _, page) = http(
        addr,
        "GET",
        &format!("/chilli?{query}&md={}", sign(query)),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form action=\"chilli/login\" method=\"post\">"));
    assert!(page.contains("name=\"challenge\" value=\"0123456789abcdef0123456789abcdef\""));
    assert!(!page.contains("02-00-00-00-00-01"));
    // A redirect not signed with the secret (a forged page) is refused.
    let forged = query.replace("10.1.0.5", "10.1.0.6");
    let (status, _, _) = http(
        addr,
        "GET",
        &format!("/chilli?{forged}&md={}", sign(query)),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = http(addr, "GET", &format!("/chilli?{query}"), &[], None).await;
    assert_eq!(status, 403);
    // The code: to the hotspot's logon.
    let form = [
        ("uamip", "10.1.0.1"),
        ("uamport", "3990"),
        ("challenge", "0123456789abcdef0123456789abcdef"),
        ("userurl", "http://example.com/"),
        ("code", " WELCOME1 "),
    ];
    let (status, h, _) = http(addr, "POST", "/chilli/login", &[], Some(&form)).await;
    assert_eq!(status, 303);
    assert_eq!(
        header(&h, "location"),
        Some("http://10.1.0.1:3990/logon?username=WELCOME1&response=0bdd60c7a5b8e5e6a95007da3e468925&userurl=http%3A%2F%2Fexample.com%2F")
    );
    // What chilli then sends over RADIUS: CHAP-Challenge = MD5(challenge ‖
    // secret), CHAP-Password = 0x00 ‖ response.
    if let Some(radclient) = common::tool("radclient", "freeradius-utils") {
        let mut h = Md5::new();
        h.update([
            0x01u8, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        h.update(SECRET.as_bytes());
        let newchal: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let input = format!(
            "User-Name = \"WELCOME1\"\nCHAP-Password = 0x000bdd60c7a5b8e5e6a95007da3e468925\n\
             CHAP-Challenge = 0x{newchal}\nMessage-Authenticator = 0x00\n"
        );
        let port = s.addr.port();
        let text = radclient_auth(radclient, port, input).await;
        assert!(text.contains("Received Access-Accept"), "{text}");
    }
    // Refused: the reason, in the guest's language.
    let failed =
        "res=failed&uamip=10.1.0.1&uamport=3990&challenge=0123456789abcdef0123456789abcdef\
                  &reply=No%20time%20left%20on%20this%20access%20code";
    let (status, _, page) = http(
        addr,
        "GET",
        &format!("/chilli?{failed}&md={}", sign(failed)),
        &[("Accept-Language", "fr")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Il ne reste plus de temps sur ce code d’accès"),
        "{page}"
    );
    // Online: the time left.
    let ok =
        "res=success&uamip=10.1.0.1&uamport=3990&timeleft=3900&userurl=http%3A%2F%2Fexample.com%2F";
    let (status, _, page) = http(
        addr,
        "GET",
        &format!("/chilli?{ok}&md={}", sign(ok)),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("You are online") && page.contains("<strong>1 h 05 min</strong> (until "),
        "{page}"
    );
    assert!(page.contains("href=\"http://example.com/\""));
    // A uamip outside login_targets: nowhere.
    let away = [
        ("uamip", "203.0.113.1"),
        ("uamport", "3990"),
        ("challenge", "00"),
        ("code", "WELCOME1"),
    ];
    let (status, h, _) = http(addr, "POST", "/chilli/login", &[], Some(&away)).await;
    assert_eq!(status, 400);
    assert!(header(&h, "location").is_none());
}

#[test]
fn a_venue_adds_a_language_and_changes_texts() {
    let dir = venue("\n[portal]\ntranslations = \"lang\"\n");
    std::fs::create_dir(dir.path().join("lang")).unwrap();
    std::fs::write(
        dir.path().join("lang/it.toml"),
        "code_label = \"Codice di accesso\"\nconnect = \"Connetti\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lang/de.toml"),
        "connect = \"Los geht's\"\n",
    )
    .unwrap();
    let out = radgate(
        dir.path(),
        &["portal", "mikrotik", "--out", "h", "--lang", "it"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = std::fs::read_to_string(dir.path().join("h/login.html")).unwrap();
    assert!(login.contains("<html lang=\"it\">"));
    assert!(login.contains("data-t=\"code_label\">Codice di accesso</label>"));
    assert!(
        login.contains("\"connect\":\"Los geht's\""),
        "the German text changed"
    );
    assert!(login.contains("\"it\":{") && login.contains("\"title\":\"Wi-Fi access\""));
    // A file with a key radgate does not know: named.
    std::fs::write(dir.path().join("lang/it.toml"), "conect = \"Connetti\"\n").unwrap();
    let out = radgate(dir.path(), &["check-config"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        e.contains("portal.translations") && e.contains("it.toml: unknown key \"conect\""),
        "{e}"
    );
}

/// Omada (RADIUS server + external web portal): the controller's redirect,
/// the code page, then a form the browser posts to the controller's
/// `/portal/radius/browserauth` (JavaScript allowed by hash for that one
/// line); never to a controller outside login_targets.
#[tokio::test]
async fn the_portal_hands_a_guest_to_an_omada_controller() {
    use sha2::Digest;
    let s = common::TestServer::start_with(|c| {
        c.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        c.portal.public_url = Some("http://wifi.example.net:8081".into());
    })
    .await;
    let addr = s.portal_addr.unwrap();
    let query = "target=10.0.0.2&targetPort=8088&scheme=http&clientMac=AA-BB-CC-DD-EE-01&clientIP=10.0.1.5\
                 &apMac=AA-BB-CC-DD-EE-02&ssidName=Guest&radioId=1&originalUrl=http%3A%2F%2Fexample.com%2F";
    let (status, _, page) = http(addr, "GET", &format!("/omada?{query}"), &[], None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form action=\"omada/login\" method=\"post\">"));
    assert!(
        page.contains("name=\"clientIp\" value=\"10.0.1.5\""),
        "the vendor's other spelling"
    );
    assert!(page.contains("name=\"originUrl\" value=\"http://example.com/\""));
    let form = [
        ("target", "10.0.0.2"),
        ("targetPort", "8088"),
        ("scheme", "http"),
        ("clientMac", "AA-BB-CC-DD-EE-01"),
        ("clientIp", "10.0.1.5"),
        ("apMac", "AA-BB-CC-DD-EE-02"),
        ("ssidName", "Guest"),
        ("radioId", "1"),
        ("originUrl", "http://example.com/"),
        ("code", " WELCOME1 "),
    ];
    let (status, h, page) = http(addr, "POST", "/omada/login", &[], Some(&form)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form id=\"go\" action=\"http://10.0.0.2:8088/portal/radius/browserauth\" method=\"post\">"));
    for (k, v) in [
        ("username", "WELCOME1"),
        ("password", "WELCOME1"),
        ("authType", "2"),
        ("clientMac", "AA-BB-CC-DD-EE-01"),
        ("radioId", "1"),
    ] {
        assert!(page.contains(&format!("name=\"{k}\" value=\"{v}\"")), "{k}");
    }
    let script = "document.getElementById('go').submit();";
    assert!(page.contains(&format!("<script>{script}</script>")));
    use base64::Engine as _;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    let csp = header(&h, "content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("script-src 'sha256-{hash}'")),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    // The code page itself runs no script.
    let (_, h, _) = http(addr, "GET", &format!("/omada?{query}"), &[], None).await;
    assert!(!header(&h, "content-security-policy")
        .unwrap()
        .contains("script-src"));
    // A controller outside login_targets, or another site's form: refused.
    let away: Vec<(&str, &str)> = form
        .iter()
        .map(|&(k, v)| {
            if k == "target" {
                (k, "203.0.113.9")
            } else {
                (k, v)
            }
        })
        .collect();
    let (status, _, page) = http(addr, "POST", "/omada/login", &[], Some(&away)).await;
    assert_eq!(status, 400);
    assert!(!page.contains("browserauth"));
    let (status, _, _) = http(
        addr,
        "POST",
        "/omada/login",
        &[("Sec-Fetch-Site", "cross-site")],
        Some(&form),
    )
    .await;
    assert_eq!(status, 403);
}

/// One HTTPS GET to the portal, trusting `cert` for `localhost`:
/// (status, headers, body).
async fn https_get(
    addr: std::net::SocketAddr,
    cert: &rcgen::Certificate,
    path: &str,
) -> (u16, Vec<(String, String)>, String) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("a TLS handshake with the portal's certificate");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // The server may close without close_notify; what arrived counts.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s");
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, text.to_string())
}

/// RFC 8908 over HTTPS (`[portal] tls_cert`) at `/captive-portal/api`: a
/// device without a session is captive and pointed at the portal, which
/// sends it on to the hotspot's login; once the hotspot's accounting says
/// the device (by its address) is online through that hotspot, it is not
/// captive and has its time left; after Stop, captive again. With two
/// hotspots, `?hotspot=` names one. Plain HTTP to the TLS port gets nothing.
#[tokio::test]
async fn the_captive_portal_api_tells_a_phone_whether_it_is_online() {
    use common::{Acct, Client, Pw, START, STOP};
    let dir = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let tls = radgate::tls::Tls {
        config: radgate::tls::server_config(&cert, &key).unwrap(),
        cert,
        key,
    };
    let s = common::TestServer::start_with(move |c| {
        c.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        c.portal.public_url = Some("https://wifi.example.net".into());
        c.portal.tls = Some(tls);
        c.clients[0].name = "café hotspot".into();
        c.clients[0].hotspot_login_url = Some("http://10.5.50.1/login".into());
        let mut other = c.clients[0].clone();
        other.name = "other".into();
        other.network = "10.9.0.0/16".parse().unwrap();
        other.hotspot_login_url = Some("http://10.9.0.1:3990/prelogin".into());
        c.clients.push(other);
    })
    .await;
    // With a data allowance: RFC 8908's bytes-remaining says what is left.
    s.token("WELCOME1", 60, |t| t.megabytes_included = Some(500))
        .await;
    let addr = s.portal_addr.unwrap();
    let api = "/captive-portal/api?hotspot=caf%C3%A9%20hotspot";
    let (status, h, body) = https_get(addr, &made.cert, api).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), Some("application/captive+json"));
    assert_eq!(header(&h, "cache-control"), Some("no-store"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"captive": true,
            "user-portal-url": "https://wifi.example.net/captive-portal/login?hotspot=caf%C3%A9%20hotspot"})
    );
    // Two hotspots and none named: the state, but no page to point at.
    let (_, _, body) = https_get(addr, &made.cert, "/captive-portal/api").await;
    assert_eq!(body, "{\"captive\":true}");
    let (status, h, _) = https_get(
        addr,
        &made.cert,
        "/captive-portal/login?hotspot=caf%C3%A9%20hotspot",
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(header(&h, "location"), Some("http://10.5.50.1/login"));
    // The guest logs in; the hotspot's accounting gives the device's address.
    let nas = Client::new(s.addr).await;
    assert!(nas
        .auth(1, "WELCOME1", Pw::Pap("WELCOME1"), None)
        .await
        .is_accept());
    let acct = Client::new(s.acct_addr).await;
    let start = Acct {
        status: START,
        user: "WELCOME1",
        session_id: "s1",
        session_time: Some(0),
        framed_ip: Some("127.0.0.1".parse().unwrap()),
        ..Default::default()
    };
    acct.acct(2, &start).await;
    for path in [api, "/captive-portal/api"] {
        let (_, _, body) = https_get(addr, &made.cert, path).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["captive"], false, "{path}: {v}");
        assert_eq!(v["can-extend-session"], false);
        let left = v["seconds-remaining"].as_i64().unwrap();
        assert!((3590..=3600).contains(&left), "{left}");
        assert_eq!(v["bytes-remaining"], 500_000_000, "{v}");
    }
    // Not through the other hotspot: captive there.
    let (_, _, body) = https_get(addr, &made.cert, "/captive-portal/api?hotspot=other").await;
    assert!(body.contains("\"captive\":true"), "{body}");
    acct.acct(
        3,
        &Acct {
            status: STOP,
            session_time: Some(60),
            ..start.clone()
        },
    )
    .await;
    let (_, _, body) = https_get(addr, &made.cert, api).await;
    assert!(body.contains("\"captive\":true"), "{body}");
    // A hotspot radgate does not know (or without hotspot_login_url): 404.
    let (status, _, _) = https_get(addr, &made.cert, "/captive-portal/api?hotspot=nobody").await;
    assert_eq!(status, 404);
    // The code pages are served over HTTPS too.
    let (status, _, page) = https_get(
        addr,
        &made.cert,
        "/mikrotik?link-login-only=http%3A%2F%2F10.5.50.1%2Flogin",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"code\""));
    // Plain HTTP to the TLS port: no page.
    let plain = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut t = tokio::net::TcpStream::connect(addr).await.unwrap();
        t.write_all(b"GET /captive-portal/api HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = t.read_to_end(&mut buf).await;
        buf
    })
    .await
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain).contains("HTTP/1.1"),
        "no HTTP answer"
    );
}

/// Meraki (sign-on splash with RADIUS): Meraki's login_url on its cloud
/// (`https://<shard>.network-auth.com/…`) or inside login_targets, never
/// elsewhere; the code goes there in a form the browser posts, with
/// radgate's success page (the business in its path) as success_url.
#[tokio::test]
async fn the_portal_hands_a_guest_to_meraki() {
    let s = common::TestServer::start_with(|c| {
        c.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        c.portal.public_url = Some("https://wifi.example.net".into());
    })
    .await;
    let addr = s.portal_addr.unwrap();
    let login = "https://n143.network-auth.com/splash/login?mauth=MM1SZQ&continue_url=http%3A%2F%2Fexample.com%2F";
    let q = serde_urlencoded::to_string([
        ("login_url", login),
        ("continue_url", "http://example.com/"),
        ("client_mac", "f4:5c:89:9b:17:67"),
        ("client_ip", "10.0.0.13"),
        ("business", "7"),
    ])
    .unwrap();
    let (status, _, page) = http(addr, "GET", &format!("/meraki?{q}"), &[], None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form action=\"meraki/login\" method=\"post\">"));
    assert!(!page.contains("f4:5c:89"), "the MAC is not carried");
    let form = [
        ("login_url", login),
        ("business", "7"),
        ("code", " WELCOME1 "),
    ];
    let (status, h, page) = http(addr, "POST", "/meraki/login", &[], Some(&form)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!(
        "<form id=\"go\" action=\"{}\" method=\"post\">",
        login.replace('&', "&amp;")
    )));
    for (k, v) in [
        ("username", "WELCOME1"),
        ("password", "WELCOME1"),
        ("success_url", "https://wifi.example.net/meraki/online/7"),
    ] {
        assert!(
            page.contains(&format!("name=\"{k}\" value=\"{v}\"")),
            "{k}: {page}"
        );
    }
    assert!(header(&h, "content-security-policy")
        .unwrap()
        .contains("script-src 'sha256-"));
    // Refused: Meraki's error_message, in the guest's language.
    let failed = format!("{q}&error_message=Unknown%20access%20code");
    let (_, _, page) = http(
        addr,
        "GET",
        &format!("/meraki?{failed}"),
        &[("Accept-Language", "es")],
        None,
    )
    .await;
    assert!(page.contains("Código de acceso desconocido"), "{page}");
    // Online: radgate's page, the business from the path, Meraki's log out.
    let (status, _, page) = http(
        addr,
        "GET",
        "/meraki/online/7?logout_url=https%3A%2F%2Fn143.network-auth.com%2Fsplash%2Flogout%3Fkey%3D1",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("You are online"));
    assert!(page.contains("href=\"https://n143.network-auth.com/splash/logout?key=1\""));
    let (_, _, page) = http(
        addr,
        "GET",
        "/meraki/online?logout_url=https%3A%2F%2Fevil.example%2Fx",
        &[],
        None,
    )
    .await;
    assert!(!page.contains("evil.example"), "{page}");
    // Elsewhere: refused, and nothing sent there.
    for bad in [
        "https://evil.example/splash/login",
        "https://network-auth.com.evil.example/login",
        "https://evil.example/.network-auth.com/login",
        "http://n143.network-auth.com/splash/login",
        "https://x@n143.network-auth.com/login",
        "javascript:alert(1)//.network-auth.com",
    ] {
        let form = [("login_url", bad), ("code", "WELCOME1")];
        let (status, _, page) = http(addr, "POST", "/meraki/login", &[], Some(&form)).await;
        assert_eq!(status, 400, "{bad}");
        assert!(!page.contains("id=\"go\""), "{bad}");
    }
    let (status, _, _) = http(
        addr,
        "POST",
        "/meraki/login",
        &[("Sec-Fetch-Site", "cross-site")],
        Some(&form),
    )
    .await;
    assert_eq!(status, 403);
}
