//! A minimal HTTP/1.1 client for the API tests: one request per
//! connection (`Connection: close`), JSON in and out.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, headers (lower-cased names) and the body as JSON
/// (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Response {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("no HTTP response within 10 s")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
        "chunked responses are not expected"
    );
    Response {
        status,
        body: serde_json::from_str(text).unwrap_or(Value::Null),
        text: text.to_string(),
        headers,
    }
}

/// A browser-like request to the web UI: `cookie` (the session), extra
/// headers, and a form body. The body comes back as text.
pub async fn page(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Response {
    let body = form.map(|f| serde_urlencoded::to_string(f).unwrap());
    let kind = body
        .as_ref()
        .map(|_| "application/x-www-form-urlencoded".to_string());
    send_page(
        addr,
        method,
        path,
        cookie,
        headers,
        kind,
        body.unwrap_or_default().into_bytes(),
    )
    .await
}

/// A form with a file, as a browser sends `enctype="multipart/form-data"`:
/// `(name, Some(file name), content)` for a file, `(name, None, value)`
/// for a field. Sent same-origin.
pub async fn upload(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    fields: &[(&str, Option<&str>, &[u8])],
) -> Response {
    let boundary = "----radgate-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, content) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    send_page(
        addr,
        "POST",
        path,
        Some(cookie),
        &[("Sec-Fetch-Site", "same-origin")],
        Some(format!("multipart/form-data; boundary={boundary}")),
        body,
    )
    .await
}

async fn send_page(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    kind: Option<String>,
    body: Vec<u8>,
) -> Response {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: radgate_session={c}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(k) = kind {
        req.push_str(&format!(
            "Content-Type: {k}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&body);
    s.write_all(&bytes).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("no HTTP response within 10 s")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: Value::Null,
        text: text.to_string(),
    }
}

/// The session id a sign-in's Set-Cookie gives.
pub fn session_cookie(r: &Response) -> Option<String> {
    r.header("set-cookie")?
        .strip_prefix("radgate_session=")?
        .split(';')
        .next()
        .map(str::to_string)
        .filter(|v| !v.is_empty())
}

/// Sign in as `name`: the session id.
pub async fn sign_in(addr: SocketAddr, name: &str) -> String {
    let r = page(
        addr,
        "POST",
        "/login",
        None,
        &[("Sec-Fetch-Site", "same-origin")],
        Some(&[("username", name), ("password", super::OPERATOR_PASSWORD)]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/tokens"));
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    session_cookie(&r).unwrap()
}
