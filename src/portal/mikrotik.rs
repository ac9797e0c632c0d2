//! The hotspot pages for a Mikrotik router (`radgate portal mikrotik`):
//! `login.html` asks for the code alone and logs the guest in through the
//! router (CHAP with the router's own `md5.js`, or PAP); `alogin.html` and
//! `status.html` say the guest is online and how much time is left. The
//! router serves them itself, fills in its `$(…)` variables, and asks
//! radgate over RADIUS: nothing but RADIUS is needed.
//!
//! Every text goes in escaped, and `$` as `&#36;` / `\u0024`, so that a
//! venue's name can neither break the page nor reach the router's template
//! language. All four languages ride along; the page shows the browser's
//! (JavaScript), else `lang`.

use super::esc as html;
use super::i18n::Catalog;
use super::Branding;
use crate::config::Messages;

/// The most a page may weigh, logo included: guests are often on a slow
/// captive-portal connection.
pub const PAGE_BUDGET: usize = 30 * 1024;

/// A page's file name and content.
pub struct Page {
    pub name: &'static str,
    pub html: String,
}

/// The pages, in the language `lang` (one of `catalogs`) for browsers
/// without JavaScript. Errs when a page goes over [`PAGE_BUDGET`] (the
/// logo is then too big).
pub fn pages(
    b: &Branding,
    messages: &Messages,
    catalogs: &[Catalog],
    lang: &str,
    case_sensitive: bool,
) -> Result<Vec<Page>, String> {
    let Some(base) = catalogs
        .iter()
        .find(|c| c.lang == lang)
        .or(catalogs.first())
    else {
        return Err("no language to write the pages in".into());
    };
    let t = |k: &str| html(base.get(k));
    let head = head(b, &t("title"), &base.lang);
    let logo = super::logo_html(b);
    // The default branding's heading is the page's title, translated by
    // the script like any other text.
    let default_name = b.name == super::DEFAULT_NAME;
    let name = if default_name {
        format!("<span data-t=\"title\">{}</span>", t("title"))
    } else {
        html(&b.name)
    };
    let script = script(messages, catalogs);
    let terms = match &b.terms_url {
        Some(url) => super::terms_html(url, base.get("terms"), false, true),
        None => String::new(),
    };
    let login = format!(
        "{head}<body><main>\n{logo}<h1>{name}</h1>\n\
         $(if error)<p class=\"error\" role=\"alert\" id=\"error\">$(error)</p>$(endif)\n\
         <form name=\"login\" action=\"$(link-login-only)\" method=\"post\" onsubmit=\"return doLogin()\">\n\
         <input type=\"hidden\" name=\"dst\" value=\"$(link-orig)\">\n\
         <input type=\"hidden\" name=\"popup\" value=\"true\">\n\
         <input type=\"hidden\" name=\"password\">\n\
         <label for=\"code\" data-t=\"code_label\">{code_label}</label>\n\
         <input id=\"code\" name=\"username\" type=\"text\" value=\"$(username)\" required autofocus \
         autocomplete=\"one-time-code\" autocapitalize=\"{caps}\" autocorrect=\"off\" spellcheck=\"false\">\n\
         {terms}<button type=\"submit\" data-t=\"connect\">{connect}</button>\n</form>\n</main>\n\
         $(if chap-id)<form name=\"sendin\" action=\"$(link-login-only)\" method=\"post\" hidden>\
         <input type=\"hidden\" name=\"username\"><input type=\"hidden\" name=\"password\">\
         <input type=\"hidden\" name=\"dst\" value=\"$(link-orig)\"><input type=\"hidden\" name=\"popup\" value=\"true\"></form>\n\
         <script src=\"/md5.js\"></script>$(endif)\n\
         <script>\n{script}\
         function doLogin() {{\n\
         var f = document.login, c = f.username.value.replace(/^\\s+|\\s+$/g, '');\n\
         if (!c) return false;\n\
         f.username.value = c;\n\
         $(if chap-id)var s = document.sendin;\n\
         s.username.value = c;\n\
         s.password.value = hexMD5('$(chap-id)' + c + '$(chap-challenge)');\n\
         s.submit();\n\
         return false;\n$(endif)\
         f.password.value = c;\n\
         return true;\n}}\n\
         </script>\n</body></html>\n",
        code_label = t("code_label"),
        connect = t("connect"),
        // Codes are matched without case unless the venue says otherwise:
        // then the phone must not change what the guest types.
        caps = if case_sensitive { "off" } else { "characters" },
    );
    let alogin = format!(
        "{head}<body><main>\n{logo}<h1>{name}</h1>\n\
         <p class=\"ok\" data-t=\"online\">{online}</p>\n\
         <p><a class=\"button\" href=\"$(link-redirect)\" data-t=\"continue\">{cont}</a></p>\n\
         <p><a href=\"$(link-status)\" data-t=\"time_left\">{left}</a></p>\n\
         </main>\n<script>\n{script}</script>\n</body></html>\n",
        online = t("online"),
        cont = t("continue"),
        left = t("time_left"),
    );
    let status = format!(
        "{head}<body><main>\n{logo}<h1>{name}</h1>\n\
         <p class=\"ok\" data-t=\"online\">{online}</p>\n\
         $(if session-time-left)<p><span data-t=\"time_left\">{left}</span>: \
         <strong id=\"left\">$(session-time-left)</strong> \
         <span id=\"until\" hidden>(<span data-t=\"until\">{until}</span> <span id=\"at\"></span>)</span></p>$(endif)\n\
         <form action=\"$(link-logout)\" name=\"logout\" method=\"post\">\
         <input type=\"hidden\" name=\"erase-cookie\" value=\"on\">\
         <button type=\"submit\" data-t=\"log_out\">{out}</button></form>\n\
         </main>\n<script>\n{script}{UNTIL}</script>\n</body></html>\n",
        online = t("online"),
        left = t("time_left"),
        until = t("until"),
        out = t("log_out"),
    );
    let pages = vec![
        Page {
            name: "login.html",
            html: login,
        },
        Page {
            name: "alogin.html",
            html: alogin,
        },
        Page {
            name: "status.html",
            html: status,
        },
    ];
    for p in &pages {
        if p.html.len() > PAGE_BUDGET {
            return Err(format!(
                "{} would weigh {} bytes, over the {} kB budget of a guest page: use a smaller logo \
                 (it is {} bytes)",
                p.name,
                p.html.len(),
                PAGE_BUDGET / 1024,
                b.logo.as_ref().map_or(0, |(_, bytes)| bytes.len())
            ));
        }
    }
    Ok(pages)
}

/// The `login.html` for `--external`: it sends the router's variables on
/// to the portal's `/mikrotik` (at once with JavaScript, with a button
/// without), where the guest types the code.
pub fn external_login(b: &Branding, portal_url: &str, business: Option<i64>) -> Page {
    let action = match business {
        Some(id) => format!("{portal_url}/mikrotik?business={id}"),
        None => format!("{portal_url}/mikrotik"),
    };
    let field = |name: &str| format!("<input type=\"hidden\" name=\"{name}\" value=\"$({name})\">");
    let fields: String = [
        "link-login-only",
        "link-orig",
        "chap-id",
        "chap-challenge",
        "error",
    ]
    .iter()
    .map(|n| field(n))
    .collect();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"pragma\" content=\"no-cache\"><meta http-equiv=\"expires\" content=\"-1\">\
         <title>{name}</title>\n<style>\n{css}</style></head>\n<body><main>\n\
         <form name=\"redirect\" action=\"{action}\" method=\"post\">{fields}{business}\
         <button type=\"submit\">{name} →</button></form>\n</main>\n\
         <script>document.redirect.submit();</script>\n</body></html>\n",
        name = html(&b.name),
        css = super::css(&b.accent_color),
        action = html(&action),
        business = business
            .map(|id| format!("<input type=\"hidden\" name=\"business\" value=\"{id}\">"))
            .unwrap_or_default(),
    );
    Page {
        name: "login.html",
        html,
    }
}

/// The status page's "until HH:MM": the router's `session-time-left`
/// (`1d2h3m4s`) added to the phone's clock.
const UNTIL: &str = "(function () {\n\
var l = document.getElementById('left'), u = document.getElementById('until');\n\
if (!l || !u) return;\n\
var m = /^(?:(\\d+)w)?(?:(\\d+)d)?(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?$/.exec(l.textContent.replace(/\\s/g, ''));\n\
if (!m || !m[0]) return;\n\
var s = (+m[1] || 0) * 604800 + (+m[2] || 0) * 86400 + (+m[3] || 0) * 3600 + (+m[4] || 0) * 60 + (+m[5] || 0);\n\
var d = new Date(Date.now() + s * 1000), o = {hour: '2-digit', minute: '2-digit'};\n\
if (s >= 86400) { o.day = 'numeric'; o.month = 'short'; }\n\
document.getElementById('at').textContent = d.toLocaleString(document.documentElement.lang || [], o);\n\
u.hidden = false;\n\
})();\n";

fn head(b: &Branding, title: &str, lang: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"pragma\" content=\"no-cache\"><meta http-equiv=\"expires\" content=\"-1\">\
         <title>{name}</title>\n<style>\n{css}</style></head>\n",
        lang = html(lang),
        name = html(b.heading(title)),
        css = super::css(&b.accent_color),
    )
}

/// The texts of every language, the [messages] a refusal carries (so that
/// the router's `$(error)` is shown in the guest's language), and the code
/// that puts them in place.
fn script(messages: &Messages, catalogs: &[Catalog]) -> String {
    let texts: serde_json::Map<String, serde_json::Value> = catalogs
        .iter()
        .map(|c| {
            (
                c.lang.clone(),
                serde_json::Value::Object(
                    c.texts
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect(),
                ),
            )
        })
        .collect();
    let reasons: serde_json::Map<String, serde_json::Value> = messages
        .by_key()
        .into_iter()
        .map(|(text, key)| (text.to_string(), serde_json::Value::String(key.into())))
        .collect();
    format!(
        "var T = {}, R = {};\n\
         (function () {{\n\
         var ls = navigator.languages || [navigator.language || ''], t = null;\n\
         for (var i = 0; i < ls.length && !t; i++) t = T[String(ls[i]).toLowerCase().split('-')[0]];\n\
         if (!t) return;\n\
         document.documentElement.lang = String(ls[i - 1]).toLowerCase().split('-')[0];\n\
         var n = document.querySelectorAll('[data-t]');\n\
         for (var j = 0; j < n.length; j++) {{ var k = n[j].getAttribute('data-t'); if (t[k]) n[j].textContent = t[k]; }}\n\
         var e = document.getElementById('error');\n\
         if (e) {{ var r = R[e.textContent.replace(/^\\s+|\\s+$/g, '')]; e.textContent = t[r] || t.login_failed; }}\n\
         }})();\n",
        js(&serde_json::Value::Object(texts)),
        js(&serde_json::Value::Object(reasons)),
    )
}

/// JSON for inside a `<script>` on a Mikrotik page: no `</script>`, no `$(`.
fn js(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('$', "\\u0024")
}
