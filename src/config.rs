//! Configuration: locating, parsing and validating `radgate.toml`.
//!
//! The file is deserialized into private "raw" structs (every key optional,
//! unknown keys rejected, values carrying their position in the file), then
//! validated into the typed structs below. Every error names the file, the key
//! path (`server.auth_listen`, `client[2] "lobby".address`) and the problem,
//! plus the line number when it is known.
//!
//! The annotated reference for every key is `config/radgate.toml`.

use std::{
    collections::HashMap,
    env,
    ffi::OsString,
    fmt, fs, io,
    net::{IpAddr, SocketAddr},
    ops::{Range, RangeInclusive},
    path::{Path, PathBuf},
    time::Duration,
};

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;
use toml::Spanned;

pub use crate::policy::reply::{ReplyConfig, ReplySettings};

/// Environment variable naming the config file (second in the lookup order).
pub const CONFIG_ENV_VAR: &str = "RADGATE_CONFIG";
/// System-wide config file (last in the lookup order).
pub const SYSTEM_CONFIG_PATH: &str = "/etc/radgate/radgate.toml";
/// Config file looked up in the working directory (third in the lookup order).
pub const LOCAL_CONFIG_FILE: &str = "radgate.toml";

const DEFAULT_AUTH_LISTEN: &str = "127.0.0.1:1812";
const DEFAULT_ACCT_LISTEN: &str = "127.0.0.1:1813";
const DEFAULT_TIMEZONE: chrono_tz::Tz = chrono_tz::UTC;
const DEFAULT_DUPLICATE_WINDOW_S: i64 = 5;
const DEFAULT_DB_URL: &str = "sqlite://radgate.db";
const DEFAULT_BUSY_TIMEOUT_MS: i64 = 5000;
const DEFAULT_ACCT_INTERIM_S: i64 = 300;
const DEFAULT_PENDING_PLACE_TTL_S: i64 = 60;
const DEFAULT_STALE_AFTER_INTERVALS: i64 = 3;
const DEFAULT_STALE_AFTER_NO_INTERIM_S: i64 = 86_400;
const DEFAULT_SWEEP_INTERVAL_S: i64 = 60;
const MIN_SECRET_CHARS: usize = 8;
/// The secret config/radgate.toml ships with; refused, so that a copied
/// reference config never serves with a secret everybody knows.
const REFERENCE_SECRET: &str = "change-me-to-a-long-random-secret";
/// The secret the guides in deploy/ show: as public as the reference's.
const GUIDE_SECRET: &str = "use-a-long-random-shared-secret";
const MAX_REPLY_MESSAGE_BYTES: usize = 253;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltinDefault,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub source: ConfigSource,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub accounting: AccountingConfig,
    pub throttle: ThrottleConfig,
    pub messages: Messages,
    pub clients: Vec<ClientConfig>,
    /// `[reply]` and `[[business]]`: optional Access-Accept attributes.
    pub reply: ReplyConfig,
    /// `[api]`: the admin HTTP API.
    pub api: ApiConfig,
    /// `[[business]]` `name`, `logo`, `accent_color`, `terms_url`: how each
    /// business's guest pages look (those without, the defaults).
    pub branding: std::collections::BTreeMap<i64, crate::portal::Branding>,
    /// `[portal]`: the guest's login page served by `radgate serve`.
    pub portal: PortalConfig,
    /// `[radsec]`: RADIUS over TLS (RFC 6614).
    pub radsec: RadsecConfig,
    /// `[[business]] timezone`: the businesses whose codes' zone-less times
    /// are read and shown in a zone of their own (the others use
    /// `server.timezone`). Use [`Config::zone_of`] / [`Config::zones`].
    pub business_timezones: std::collections::BTreeMap<i64, chrono_tz::Tz>,
}

/// The time zone of each business's codes: its `[[business]] timezone`, or
/// `server.timezone`. A copy taken from one [`Config`], so that a reload
/// (which swaps the whole configuration) is seen by the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    /// `server.timezone`: businesses without a zone of their own, and
    /// whatever spans businesses.
    pub server: chrono_tz::Tz,
    pub business: std::collections::BTreeMap<i64, chrono_tz::Tz>,
}

impl Zones {
    /// One zone for everything.
    pub fn fixed(tz: chrono_tz::Tz) -> Zones {
        Zones {
            server: tz,
            business: Default::default(),
        }
    }

    /// The zone of BusinessId `business_id`'s codes.
    pub fn of(&self, business_id: i64) -> chrono_tz::Tz {
        self.business
            .get(&business_id)
            .copied()
            .unwrap_or(self.server)
    }

    /// The zone of a filter's times: that of the one business filtered on,
    /// `server.timezone` when the filter spans businesses (`None`).
    pub fn of_filter(&self, business_id: Option<i64>) -> chrono_tz::Tz {
        business_id.map_or(self.server, |b| self.of(b))
    }
}

/// The shared secret of a RadSec client that sets none (RFC 6614 §2.3).
pub const RADSEC_SECRET: &str = "radsec";

/// `[radsec]`: RADIUS over TLS (RFC 6614) for `[[client]]`s with
/// `radsec = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadsecConfig {
    /// `None`: RadSec is off.
    pub listen: Option<SocketAddr>,
    /// `certificate`, `private_key` and `client_ca`, loaded; set whenever
    /// `listen` is.
    pub tls: Option<RadsecTls>,
    /// Connections open at once; more are closed at once.
    pub max_connections: usize,
    /// A connection without a request for this long is closed (NASes keep
    /// theirs open with Status-Server).
    pub idle_timeout: Duration,
    /// A TLS handshake must be over within this long.
    pub handshake_timeout: Duration,
}

impl Default for RadsecConfig {
    fn default() -> Self {
        RadsecConfig {
            listen: None,
            tls: None,
            max_connections: 256,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: crate::tls::HANDSHAKE_TIMEOUT,
        }
    }
}

/// RadSec's certificate, key and client CA (the files, compared by path)
/// and the TLS server side loaded from them.
#[derive(Debug, Clone)]
pub struct RadsecTls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    pub client_ca: PathBuf,
    pub config: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
}

impl PartialEq for RadsecTls {
    fn eq(&self, o: &Self) -> bool {
        (&self.certificate, &self.private_key, &self.client_ca)
            == (&o.certificate, &o.private_key, &o.client_ca)
    }
}

impl Eq for RadsecTls {}

/// `[portal]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfig {
    pub listen: Option<SocketAddr>,
    /// How guests' browsers reach the portal, without a trailing `/`.
    pub public_url: Option<String>,
    /// The addresses the portal may send a browser to for the hotspot's
    /// login (`link-login-only`): never anywhere else.
    pub login_targets: Vec<IpNet>,
    /// Host names in `login_targets` (a hotspot with a `dns-name`), lower
    /// case, matched exactly.
    pub login_hosts: Vec<String>,
    /// `translations`: a venue's language files (`<lang>.toml`), checked.
    pub translations: Vec<crate::portal::i18n::Catalog>,
    /// `tls_cert` + `tls_key`: the portal serves HTTPS (and the RFC 8908
    /// API, which phones reach only over HTTPS).
    pub tls: Option<crate::tls::Tls>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: None,
            public_url: None,
            login_targets: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            login_hosts: Vec::new(),
            translations: Vec::new(),
            tls: None,
        }
    }
}

/// `[api]`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where `radgate serve` serves the HTTP API and the web UI; `None`:
    /// neither.
    pub listen: Option<SocketAddr>,
    /// `tls_cert` + `tls_key`: served over HTTPS.
    pub tls: Option<crate::tls::Tls>,
    /// `metrics_key`: `/metrics` wants `Authorization: Bearer <key>`;
    /// `None`: open to whoever reaches the address.
    pub metrics_key: Option<Hidden>,
}

/// A secret from the configuration: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(hidden)")
    }
}

/// `[accounting]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingConfig {
    /// A live session with no accounting packet for this long is closed as
    /// stale: `stale_after_intervals` × `auth.acct_interim_interval`, or
    /// `stale_after_no_interim` when no interim interval is sent.
    pub stale_after: Duration,
    /// How often the stale-session sweep runs.
    pub sweep_interval: Duration,
}

impl Default for AccountingConfig {
    fn default() -> Self {
        AccountingConfig {
            stale_after: secs(DEFAULT_STALE_AFTER_INTERVALS * DEFAULT_ACCT_INTERIM_S),
            sweep_interval: secs(DEFAULT_SWEEP_INTERVAL_S),
        }
    }
}

/// `[throttle]`: brute-force protection. Failed logins (unknown code or
/// wrong password) are counted per device (Calling-Station-Id) and per NAS
/// (source address); past the threshold within the window, further attempts
/// are rejected without a store lookup until the cool-down ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures of one device within `device_window`; 0 disables.
    pub device_failures: u32,
    pub device_window: Duration,
    pub device_cooldown: Duration,
    /// Failures of all devices behind one NAS within `nas_window`; 0 disables.
    /// While a NAS cools down, only devices that logged in successfully in
    /// the last `nas_cooldown` are let through.
    pub nas_failures: u32,
    pub nas_window: Duration,
    pub nas_cooldown: Duration,
    /// Devices and NASes tracked at most (oldest forgotten first).
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            device_failures: 5,
            device_window: secs(60),
            device_cooldown: secs(300),
            nas_failures: 30,
            nas_window: secs(60),
            nas_cooldown: secs(60),
            max_tracked: 100_000,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub auth_listen: SocketAddr,
    pub acct_listen: SocketAddr,
    /// Zone-less datetimes in the CLI/API are local time in this zone.
    pub timezone: chrono_tz::Tz,
    /// How long a response is cached to answer retransmissions (RFC 5080).
    pub duplicate_window: Duration,
    /// Show access codes in the log only as their first two characters.
    pub mask_codes: bool,
    /// How `radgate serve` writes its log lines.
    pub log_format: LogFormat,
}

/// `server.log_format`: how `radgate serve` writes its log (stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people (tracing's default format).
    #[default]
    Text,
    /// One JSON object per line ([`crate::logging`] names the fields).
    Json,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Always a `sqlite:` URL for now. A relative path in a config file is
    /// made absolute against the file's directory when the file is loaded;
    /// the built-in default `radgate.db` is in the working directory.
    pub url: String,
    pub synchronous: Synchronous,
    pub busy_timeout: Duration,
}

/// SQLite `PRAGMA synchronous` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Full,
    Normal,
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Seconds, sent as Acct-Interim-Interval; 0 = do not send the attribute.
    pub acct_interim_interval: u32,
    /// How long an Access-Accept holds a UserLimit place until accounting Start.
    pub pending_place_ttl: Duration,
    pub bind_mac_on_first_use: bool,
    pub case_sensitive_codes: bool,
    /// Default for clients that do not set `accept_any_password` themselves.
    pub accept_any_password: bool,
}

/// `[messages]`: Reply-Message texts sent with an Access-Reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messages {
    pub unknown_code: String,
    pub wrong_password: String,
    pub not_yet_valid: String,
    pub expired: String,
    /// A single-use code whose session has ended.
    pub already_used: String,
    pub no_minutes_left: String,
    /// Its data allowance (MegabytesIncluded) is used up.
    pub data_used_up: String,
    pub mac_mismatch: String,
    pub user_limit_reached: String,
    /// Sent while a device or NAS is cooling down after repeated failures.
    pub throttled: String,
}

impl Messages {
    /// Each text with the key the guest pages translate it by
    /// (src/portal/lang/*.toml).
    pub fn by_key(&self) -> [(&str, &'static str); 10] {
        [
            (&self.unknown_code, "unknown_code"),
            (&self.wrong_password, "wrong_password"),
            (&self.not_yet_valid, "not_yet_valid"),
            (&self.expired, "expired"),
            (&self.already_used, "already_used"),
            (&self.no_minutes_left, "no_minutes_left"),
            (&self.data_used_up, "data_used_up"),
            (&self.mac_mismatch, "mac_mismatch"),
            (&self.user_limit_reached, "user_limit_reached"),
            (&self.throttled, "throttled"),
        ]
    }

    /// The Reply-Message for a reject reason.
    pub fn for_reason(&self, r: crate::policy::auth::RejectReason) -> &str {
        use crate::policy::auth::RejectReason as R;
        match r {
            R::UnknownCode => &self.unknown_code,
            R::WrongPassword => &self.wrong_password,
            R::NotYetValid => &self.not_yet_valid,
            R::Expired => &self.expired,
            R::AlreadyUsed => &self.already_used,
            R::NoMinutesLeft => &self.no_minutes_left,
            R::NoDataLeft => &self.data_used_up,
            R::MacMismatch => &self.mac_mismatch,
            R::UserLimitReached => &self.user_limit_reached,
            R::Throttled => &self.throttled,
        }
    }
}

/// One `[[client]]`: a NAS (or range of NASes) allowed to talk to radgate.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub name: String,
    /// Host bits are always zero; IPv4-mapped IPv6 ranges are stored as IPv4.
    pub network: IpNet,
    pub secret: String,
    pub require_message_authenticator: MaPolicy,
    /// Resolved: the client's own value, else `[auth].accept_any_password`.
    pub accept_any_password: bool,
    /// When set, only codes of this BusinessId are accepted from this client.
    pub business_id: Option<i64>,
    /// Drop an Access-Request that carries Proxy-State but no
    /// Message-Authenticator (BlastRADIUS).
    pub limit_proxy_state: bool,
    /// UDP port of the NAS's Dynamic Authorization (RFC 5176) listener:
    /// Disconnect-Requests go to the session's NAS address on this port.
    /// `None`: radgate never sends any to this client.
    pub coa_port: Option<u16>,
    /// CoovaChilli's `uamsecret`: the guest portal checks the redirect's
    /// `md` with it and builds the CHAP answer with it.
    pub uam_secret: Option<String>,
    /// Where a guest's login starts on this hotspot (Mikrotik
    /// `http://<hotspot>/login`, CoovaChilli `http://<uamip>:<uamport>/prelogin`):
    /// the RFC 8908 API (`/captive-portal/api`) sends phones there.
    pub hotspot_login_url: Option<String>,
    /// `radsec = true`: the client talks RadSec (TLS, `[radsec]`) and only
    /// RadSec: UDP from its addresses is not accepted under this entry (its
    /// secret may be the public "radsec"). A UDP entry and a RadSec entry
    /// may cover the same addresses.
    pub radsec: bool,
}

/// Per-client Message-Authenticator requirement for incoming requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaPolicy {
    Yes,
    No,
    /// Required from a client once it has sent one.
    Auto,
}

/// A configuration problem: `{file}: {key}: {problem}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{problem}", key_prefix(.key))]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &self.name)
            .field("network", &self.network)
            .field("secret", &"<redacted>")
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("accept_any_password", &self.accept_any_password)
            .field("business_id", &self.business_id)
            .field("limit_proxy_state", &self.limit_proxy_state)
            .field("coa_port", &self.coa_port)
            .field(
                "uam_secret",
                &self.uam_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("hotspot_login_url", &self.hotspot_login_url)
            .field("radsec", &self.radsec)
            .finish()
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
        })
    }
}

impl fmt::Display for MaPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaPolicy::Yes => "yes",
            MaPolicy::No => "no",
            MaPolicy::Auto => "auto",
        })
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::BuiltinDefault => f.write_str("built-in defaults"),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth_listen: DEFAULT_AUTH_LISTEN.parse().expect("valid default"),
            acct_listen: DEFAULT_ACCT_LISTEN.parse().expect("valid default"),
            timezone: DEFAULT_TIMEZONE,
            duplicate_window: secs(DEFAULT_DUPLICATE_WINDOW_S),
            mask_codes: true,
            log_format: LogFormat::Text,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DEFAULT_DB_URL.to_string(),
            synchronous: Synchronous::Full,
            busy_timeout: millis(DEFAULT_BUSY_TIMEOUT_MS),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            acct_interim_interval: DEFAULT_ACCT_INTERIM_S as u32,
            pending_place_ttl: secs(DEFAULT_PENDING_PLACE_TTL_S),
            bind_mac_on_first_use: false,
            case_sensitive_codes: false,
            accept_any_password: false,
        }
    }
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            unknown_code: "Unknown access code".into(),
            wrong_password: "Wrong password".into(),
            not_yet_valid: "This access code is not valid yet".into(),
            expired: "This access code has expired".into(),
            already_used: "This access code has already been used".into(),
            no_minutes_left: "No time left on this access code".into(),
            data_used_up: "Your data allowance is used up".into(),
            mac_mismatch: "This access code is in use by another device".into(),
            user_limit_reached: "Too many devices are using this access code".into(),
            throttled: "Too many failed attempts, please wait a few minutes".into(),
        }
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(n as u64)
}

fn millis(n: i64) -> Duration {
    Duration::from_millis(n as u64)
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

impl Config {
    /// Lookup order: explicit path, `$RADGATE_CONFIG`, `./radgate.toml`,
    /// `/etc/radgate/radgate.toml`; none found -> [`Config::builtin_default`].
    /// An explicit or `$RADGATE_CONFIG` path that does not exist is an error.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let local = env::current_dir()
            .map(|d| d.join(LOCAL_CONFIG_FILE))
            .unwrap_or_else(|_| PathBuf::from(LOCAL_CONFIG_FILE));
        load_with(
            explicit,
            env::var_os(CONFIG_ENV_VAR),
            &[local, PathBuf::from(SYSTEM_CONFIG_PATH)],
        )
    }

    /// Parses and validates `text`; `origin` is used in messages and stored
    /// in `source`.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let ctx = Ctx {
            file: origin.display().to_string(),
            text,
        };
        let doc: toml::Table = text.parse().map_err(|e| ctx.syntax_error(&e))?;
        let raw: RawConfig = toml::from_str(text).map_err(|e| ctx.serde_error(&e, &doc))?;
        ctx.validate(raw, origin)
    }

    /// The settings `new` changes that a reload cannot apply (a restart
    /// does): the listen addresses, the database, and what the store's
    /// writer and the background loops read once at start. Each as
    /// "key (old → new)" or the key alone.
    pub fn restart_needed(&self, new: &Config) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |key: &str, changed: bool, detail: Option<String>| {
            if changed {
                out.push(match detail {
                    Some(d) => format!("{key} ({d})"),
                    None => key.to_string(),
                });
            }
        };
        let addr = |a: &SocketAddr, b: &SocketAddr| Some(format!("{a} → {b}"));
        let opt = |a: &Option<SocketAddr>, b: &Option<SocketAddr>| {
            let s = |v: &Option<SocketAddr>| v.map_or("off".to_string(), |a| a.to_string());
            Some(format!("{} → {}", s(a), s(b)))
        };
        let (o, n) = (self, new);
        check(
            "server.auth_listen",
            o.server.auth_listen != n.server.auth_listen,
            addr(&o.server.auth_listen, &n.server.auth_listen),
        );
        check(
            "server.acct_listen",
            o.server.acct_listen != n.server.acct_listen,
            addr(&o.server.acct_listen, &n.server.acct_listen),
        );
        check(
            "api.listen",
            o.api.listen != n.api.listen,
            opt(&o.api.listen, &n.api.listen),
        );
        check(
            "portal.listen",
            o.portal.listen != n.portal.listen,
            opt(&o.portal.listen, &n.portal.listen),
        );
        check(
            "radsec.listen",
            o.radsec.listen != n.radsec.listen,
            opt(&o.radsec.listen, &n.radsec.listen),
        );
        check(
            "radsec.max_connections",
            o.radsec.max_connections != n.radsec.max_connections,
            None,
        );
        check(
            "server.duplicate_window",
            o.server.duplicate_window != n.server.duplicate_window,
            None,
        );
        check("database", o.database != n.database, None);
        check(
            "server.log_format",
            o.server.log_format != n.server.log_format,
            None,
        );
        check(
            "auth.pending_place_ttl",
            o.auth.pending_place_ttl != n.auth.pending_place_ttl,
            None,
        );
        check(
            "auth.bind_mac_on_first_use",
            o.auth.bind_mac_on_first_use != n.auth.bind_mac_on_first_use,
            None,
        );
        check(
            "auth.case_sensitive_codes",
            o.auth.case_sensitive_codes != n.auth.case_sensitive_codes,
            None,
        );
        check(
            "throttle.max_tracked",
            o.throttle.max_tracked != n.throttle.max_tracked,
            None,
        );
        check("accounting", o.accounting != n.accounting, None);
        out
    }

    /// Loopback-only defaults used when no config file exists.
    pub fn builtin_default() -> Config {
        Config {
            source: ConfigSource::BuiltinDefault,
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            accounting: AccountingConfig::default(),
            throttle: ThrottleConfig::default(),
            messages: Messages::default(),
            reply: ReplyConfig {
                wispr_bandwidth: true,
                ..ReplyConfig::default()
            },
            api: ApiConfig::default(),
            branding: Default::default(),
            portal: PortalConfig::default(),
            clients: vec![ClientConfig {
                name: "localhost".into(),
                network: "127.0.0.1/32".parse().expect("valid default"),
                secret: "testing123".into(),
                require_message_authenticator: MaPolicy::Auto,
                accept_any_password: false,
                business_id: None,
                limit_proxy_state: true,
                coa_port: None,
                uam_secret: None,
                hotspot_login_url: None,
                radsec: false,
            }],
            radsec: RadsecConfig::default(),
            business_timezones: Default::default(),
        }
    }

    /// The zone zone-less times of BusinessId `business_id`'s codes are
    /// read and shown in: its `[[business]] timezone`, or `server.timezone`.
    pub fn zone_of(&self, business_id: i64) -> chrono_tz::Tz {
        self.business_timezones
            .get(&business_id)
            .copied()
            .unwrap_or(self.server.timezone)
    }

    /// Every business's zone ([`Config::zone_of`]), as a value to pass on.
    pub fn zones(&self) -> Zones {
        Zones {
            server: self.server.timezone,
            business: self.business_timezones.clone(),
        }
    }

    /// The client whose range covers `ip` (IPv4-mapped IPv6 is treated as IPv4).
    pub fn find_client(&self, ip: IpAddr) -> Option<&ClientConfig> {
        let ip = ip.to_canonical();
        self.clients.iter().find(|c| c.network.contains(&ip))
    }

    pub fn is_builtin(&self) -> bool {
        self.source == ConfigSource::BuiltinDefault
    }

    /// Multi-line human summary (for `radgate check-config`). Never shows secrets.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let yn = |b: bool| if b { "yes" } else { "no" };
        let mut s = String::new();
        match &self.source {
            ConfigSource::File(p) => {
                let _ = writeln!(s, "config file:      {}", p.display());
            }
            ConfigSource::BuiltinDefault => {
                let _ = writeln!(
                    s,
                    "config file:      none found, using built-in defaults (loopback only)"
                );
            }
        }
        let sv = &self.server;
        let _ = writeln!(s, "auth listener:    {} (udp)", sv.auth_listen);
        let _ = writeln!(s, "acct listener:    {} (udp)", sv.acct_listen);
        let _ = writeln!(s, "timezone:         {}", sv.timezone.name());
        let _ = writeln!(s, "duplicate window: {} s", sv.duplicate_window.as_secs());
        let _ = writeln!(
            s,
            "log:              {} to stderr, codes {}",
            sv.log_format,
            if sv.mask_codes { "masked" } else { "in full" }
        );
        let db = &self.database;
        if crate::store::postgres::is_postgres_url(&db.url) {
            let _ = writeln!(
                s,
                "database:         {} (PostgreSQL; per node {} writer connections, \
                 up to {} more for the CLI and API)",
                redact_url(&db.url),
                crate::store::postgres::writer::LANES,
                crate::store::postgres::POOL_SIZE
            );
        } else {
            let _ = writeln!(
                s,
                "database:         {} (synchronous={}, busy_timeout={} ms)",
                redact_url(&db.url),
                db.synchronous,
                db.busy_timeout.as_millis()
            );
        }
        let a = &self.auth;
        let interim = if a.acct_interim_interval == 0 {
            "not sent".to_string()
        } else {
            format!("{} s", a.acct_interim_interval)
        };
        let _ = writeln!(s, "interim interval: {interim}");
        let _ = writeln!(s, "pending place:    {} s", a.pending_place_ttl.as_secs());
        let _ = writeln!(
            s,
            "stale sessions:   closed after {} s without accounting (sweep every {} s)",
            self.accounting.stale_after.as_secs(),
            self.accounting.sweep_interval.as_secs()
        );
        let _ = writeln!(
            s,
            "codes:            case-sensitive={}, bind MAC on first use={}, accept any password={}",
            yn(a.case_sensitive_codes),
            yn(a.bind_mac_on_first_use),
            yn(a.accept_any_password)
        );
        let _ = writeln!(
            s,
            "HTTP API:         {}",
            self.api.listen.map_or("off".to_string(), |a| format!(
                "listening on {a} (with the web UI{})",
                if self.api.tls.is_some() {
                    ", HTTPS"
                } else {
                    ""
                }
            ))
        );
        let p = &self.portal;
        let targets: Vec<String> = p
            .login_targets
            .iter()
            .map(ToString::to_string)
            .chain(p.login_hosts.iter().cloned())
            .collect();
        let _ = writeln!(
            s,
            "guest portal:     {}{}; login targets {}",
            match (p.listen, &p.public_url) {
                (Some(a), Some(u)) => format!("listening on {a}, reached at {u}"),
                (None, Some(u)) => format!("off (public_url {u})"),
                _ => "off".to_string(),
            },
            match &p.tls {
                Some(t) => format!(" (HTTPS, certificate {})", t.cert.display()),
                None => String::new(),
            },
            targets.join(", ")
        );
        let _ = writeln!(
            s,
            "radsec:           {}",
            match (self.radsec.listen, &self.radsec.tls) {
                (Some(a), Some(t)) => format!(
                    "listening on {a} (TLS, certificate {}, client CA {}, at most {} connections, idle timeout {} s)",
                    t.certificate.display(),
                    t.client_ca.display(),
                    self.radsec.max_connections,
                    self.radsec.idle_timeout.as_secs()
                ),
                _ => "off".to_string(),
            }
        );
        let r = &self.reply;
        let show = |v: &Option<String>| match v.as_deref() {
            None | Some("") => "-".to_string(),
            Some(v) => format!("{v:?}"),
        };
        let _ = writeln!(
            s,
            "reply:            idle timeout {}, rate limit {}, class {}, WISPr bandwidth {}, terminate time {}, {} business override(s)",
            r.defaults
                .idle_timeout
                .filter(|t| *t > 0)
                .map_or("-".to_string(), |t| format!("{t} s")),
            show(&r.defaults.rate_limit),
            show(&r.defaults.class),
            yn(r.wispr_bandwidth),
            yn(r.session_terminate_time),
            r.businesses.len()
        );
        let _ = writeln!(s, "clients:          {}", self.clients.len());
        for c in &self.clients {
            let business = match c.business_id {
                Some(id) => id.to_string(),
                None => "any".to_string(),
            };
            let _ = writeln!(
                s,
                "  {:?} {}{}: message-authenticator={}, accept any password={}, business={}, disconnect={}{}{}",
                c.name,
                c.network,
                if c.radsec { " (RadSec)" } else { "" },
                c.require_message_authenticator,
                yn(c.accept_any_password),
                business,
                c.coa_port
                    .map_or("off".to_string(), |p| format!("port {p}")),
                if c.uam_secret.is_some() {
                    ", uam_secret set"
                } else {
                    ""
                },
                c.hotspot_login_url
                    .as_deref()
                    .map_or(String::new(), |u| format!(", hotspot login {u}")),
            );
        }
        for (id, b) in &self.branding {
            let _ = writeln!(
                s,
                "guest page of business {id}: name {:?}, logo {}, accent {}, terms {}",
                b.name,
                b.logo
                    .as_ref()
                    .map_or("-".to_string(), |(mime, bytes)| format!(
                        "{mime}, {} bytes",
                        bytes.len()
                    )),
                b.accent_color,
                b.terms_url.as_deref().unwrap_or("-"),
            );
        }
        for (id, tz) in &self.business_timezones {
            let _ = writeln!(s, "time zone of business {id}: {}", tz.name());
        }
        s
    }

    /// Warnings for settings that work but are likely a mistake: `serve`
    /// logs them, `check-config` prints them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = self.api.listen {
            if self.api.tls.is_none() && !a.ip().is_loopback() {
                out.push(format!(
                    "api.listen {a} serves the web UI and the API over plain HTTP on a network address: \
                     passwords, session cookies and API keys cross the network in clear; set api.tls_cert \
                     and api.tls_key (or keep it on loopback behind a TLS proxy)"
                ));
            }
        }
        let p = &self.portal;
        if let Some(open) = p.login_targets.iter().find(|n| n.prefix_len() == 0) {
            out.push(format!(
                "portal.login_targets holds {open}: the guest portal may send browsers to any address of that family; \
                 list the hotspots' own addresses instead"
            ));
        }
        let https = p
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        if p.tls.is_some() && !https {
            out.push(
                "portal.tls_cert is set but portal.public_url is not an https address: hotspots would send \
                 browsers to plain HTTP on a TLS port"
                    .to_string(),
            );
        }
        let radsec_clients = self.clients.iter().filter(|c| c.radsec).count();
        match (self.radsec.listen, radsec_clients) {
            (Some(a), 0) => out.push(format!(
                "radsec.listen {a} is set but no [[client]] has radsec = true: every RadSec connection \
                 will be closed"
            )),
            (None, n) if n > 0 => out.push(
                "a [[client]] has radsec = true but radsec.listen is not set: RadSec is off".to_string(),
            ),
            _ => {}
        }
        if let Some(c) = self.clients.iter().find(|c| c.hotspot_login_url.is_some()) {
            if !https {
                out.push(format!(
                    "client {:?} has hotspot_login_url, but phones use the captive portal API only over HTTPS: \
                     set portal.tls_cert and portal.tls_key and an https portal.public_url",
                    c.name
                ));
            }
        }
        out
    }
}

/// `load` with its environment passed in, so that it can be tested without
/// touching the process environment or working directory.
fn load_with(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    candidates: &[PathBuf],
) -> Result<Config, ConfigError> {
    if let Some(path) = explicit {
        return load_file(path, "");
    }
    if let Some(v) = env_value.filter(|v| !v.is_empty()) {
        return load_file(
            Path::new(&v),
            &format!(" (path taken from ${CONFIG_ENV_VAR})"),
        );
    }
    for path in candidates {
        match fs::metadata(path) {
            Ok(_) => return load_file(path, ""),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(path, "", &e)),
        }
    }
    Ok(Config::builtin_default())
}

fn load_file(path: &Path, note: &str) -> Result<Config, ConfigError> {
    let text = fs::read_to_string(path).map_err(|e| read_error(path, note, &e))?;
    let mut config = Config::from_toml_str(&text, path)?;
    // Relative paths in a file are relative to the file's directory, not to
    // wherever a command runs: the CLI and the server, started from
    // different places, must open the same database.
    let dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(dir) = dir {
        config.database.url = resolve_sqlite_url(&config.database.url, &dir);
    }
    Ok(config)
}

/// A `sqlite:` URL whose file path is relative, made absolute against
/// `dir`. Absolute paths, in-memory databases and other schemes are
/// returned unchanged; the query (`?mode=…`) is kept.
pub fn resolve_sqlite_url(url: &str, dir: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_string();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty()
        || path == ":memory:"
        || url.contains("mode=memory")
        || Path::new(path).is_absolute()
    {
        return url.to_string();
    }
    let mut out = format!("sqlite://{}", dir.join(path).display());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn read_error(path: &Path, note: &str, e: &io::Error) -> ConfigError {
    ConfigError {
        file: path.display().to_string(),
        key: String::new(),
        problem: format!("cannot read{note}: {e}"),
    }
}

/// Hides a password in `scheme://user:password@host/...`.
/// A database URL fit for a log or a message: the password in
/// `scheme://user:password@host` and in a `password=` parameter hidden.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            if let Some((user, _)) = authority[..at].split_once(':') {
                out = format!("{scheme}://{user}:***{}", &rest[at..]);
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// Whether `url` names a database radgate can use (`sqlite:` or
/// `postgres:`); the problem otherwise, without repeating a password.
pub fn check_database_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("must not be empty: expected sqlite://PATH or postgres://…".into());
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err(
                "no database file given: expected e.g. \"sqlite://radgate.db\" or \"sqlite:///var/lib/radgate/radgate.db\""
                    .into(),
            );
        }
        return Ok(());
    }
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
        // tokio-postgres reads it when the store opens; read it now, so
        // that a bad URL is a configuration error (without repeating a
        // password).
        let cfg = url.parse::<tokio_postgres::Config>().map_err(|e| {
            // The cause names the parameter (`invalid value for option
            // \`sslmode\``); the error's own text does not.
            format!(
                "not a PostgreSQL URL tokio-postgres can read: {}",
                crate::store::pg_detail(&e)
            )
        })?;
        // radgate connects without TLS (a unix socket, a private network or
        // a tunnel; README "Several nodes"): a URL that demands TLS could
        // never connect, so it is refused here rather than retried forever.
        if cfg.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(
                "sslmode=require: radgate connects to PostgreSQL without TLS; \
                 reach it over a unix socket, a private network or a tunnel, and \
                 leave sslmode out (or set sslmode=disable)"
                    .into(),
            );
        }
        return Ok(());
    }
    Err(format!(
        "unsupported database URL scheme {scheme:?}: expected sqlite://PATH or postgres://USER@HOST/DATABASE"
    ))
}

// ---------------------------------------------------------------------------
// Raw (as written) structs
// ---------------------------------------------------------------------------

type Sp<T> = Option<Spanned<T>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    server: RawServer,
    database: RawDatabase,
    auth: RawAuth,
    accounting: RawAccounting,
    throttle: RawThrottle,
    messages: RawMessages,
    client: Vec<RawClient>,
    reply: RawReply,
    business: Vec<RawBusiness>,
    api: RawApi,
    portal: RawPortal,
    radsec: RawRadsec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRadsec {
    listen: Sp<String>,
    certificate: Sp<String>,
    private_key: Sp<String>,
    client_ca: Sp<String>,
    max_connections: Sp<i64>,
    idle_timeout: Sp<i64>,
    handshake_timeout: Sp<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPortal {
    listen: Sp<String>,
    public_url: Sp<String>,
    login_targets: Option<Spanned<Vec<String>>>,
    translations: Sp<String>,
    tls_cert: Sp<String>,
    tls_key: Sp<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawApi {
    listen: Sp<String>,
    tls_cert: Sp<String>,
    tls_key: Sp<String>,
    metrics_key: Sp<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawReply {
    idle_timeout: Sp<i64>,
    rate_limit: Sp<String>,
    class: Sp<String>,
    wispr_bandwidth: Option<bool>,
    session_terminate_time: Option<bool>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
struct RawBusiness {
    id: Sp<i64>,
    idle_timeout: Sp<i64>,
    rate_limit: Sp<String>,
    class: Sp<String>,
    name: Sp<String>,
    logo: Sp<String>,
    accent_color: Sp<String>,
    terms_url: Sp<String>,
    network: Sp<String>,
    voucher_login_url: Sp<String>,
    timezone: Sp<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    auth_listen: Sp<String>,
    acct_listen: Sp<String>,
    timezone: Sp<String>,
    duplicate_window: Sp<i64>,
    mask_codes: Option<bool>,
    log_format: Sp<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: Sp<String>,
    synchronous: Sp<toml::Value>,
    busy_timeout_ms: Sp<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    acct_interim_interval: Sp<i64>,
    pending_place_ttl: Sp<i64>,
    bind_mac_on_first_use: Option<bool>,
    case_sensitive_codes: Option<bool>,
    accept_any_password: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawThrottle {
    device_failures: Sp<i64>,
    device_window: Sp<i64>,
    device_cooldown: Sp<i64>,
    nas_failures: Sp<i64>,
    nas_window: Sp<i64>,
    nas_cooldown: Sp<i64>,
    max_tracked: Sp<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAccounting {
    stale_after_intervals: Sp<i64>,
    stale_after_no_interim: Sp<i64>,
    sweep_interval: Sp<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMessages {
    unknown_code: Sp<String>,
    wrong_password: Sp<String>,
    not_yet_valid: Sp<String>,
    expired: Sp<String>,
    already_used: Sp<String>,
    no_minutes_left: Sp<String>,
    data_used_up: Sp<String>,
    mac_mismatch: Sp<String>,
    user_limit_reached: Sp<String>,
    throttled: Sp<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawClient {
    name: Sp<String>,
    address: Sp<String>,
    secret: Sp<String>,
    require_message_authenticator: Sp<toml::Value>,
    accept_any_password: Option<bool>,
    business_id: Sp<i64>,
    limit_proxy_state: Option<bool>,
    coa_port: Sp<i64>,
    uam_secret: Sp<String>,
    hotspot_login_url: Sp<String>,
    radsec: Option<bool>,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

struct Ctx<'a> {
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        key: impl Into<String>,
        problem: impl Into<String>,
        span: Option<Range<usize>>,
    ) -> ConfigError {
        let mut problem = problem.into();
        if let Some(span) = span {
            problem.push_str(&format!(" (line {})", self.line_of(span.start)));
        }
        ConfigError {
            file: self.file.clone(),
            key: key.into(),
            problem,
        }
    }

    /// 1-based line number of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn syntax_error(&self, e: &toml::de::Error) -> ConfigError {
        let msg = one_line(e.message());
        let problem = match e.span() {
            Some(span) => {
                let line = self.line_of(span.start);
                let line_start = self.text[..span.start.min(self.text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let column = self.text[line_start..span.start.min(self.text.len())]
                    .chars()
                    .count()
                    + 1;
                format!("TOML syntax error: {msg} (line {line}, column {column})")
            }
            None => format!("TOML syntax error: {msg}"),
        };
        self.err("", problem, None)
    }

    /// Maps a serde error (unknown key, wrong type) to a key path, using the
    /// error's span and the table headers above it.
    fn serde_error(&self, e: &toml::de::Error, doc: &toml::Table) -> ConfigError {
        let msg = one_line(e.message());
        let unknown = parse_unknown_field(&msg);
        let Some(span) = e.span() else {
            return self.err("", msg, None);
        };
        let lines: Vec<&str> = self.text.split('\n').collect();
        let idx = self.line_of(span.start) - 1;
        let section = section_before(&lines, idx, doc);
        let this_line = lines.get(idx).copied().unwrap_or("");

        // Key path as written on the error's line.
        let line_key = match parse_header(this_line) {
            Some(Header::Table(name) | Header::Array(name)) => Some(name),
            None => this_line
                .split_once('=')
                .map(|(k, _)| join_key(&section, &norm_key(k))),
        };

        let (key, problem) = match unknown {
            Some((name, allowed)) => {
                let key = match line_key {
                    Some(k) if k == name || k.ends_with(&format!(".{name}")) => k,
                    _ => join_key(&section, &name),
                };
                (key, format!("unknown key; allowed here: {allowed}"))
            }
            None => {
                let key = line_key.unwrap_or(section);
                // A secret of the wrong type (an unquoted number) is not
                // repeated in the message: it ends up in logs.
                let problem = if key.ends_with("secret") {
                    "must be a string in quotes".to_string()
                } else {
                    tidy_serde_message(&msg)
                };
                (key, problem)
            }
        };
        self.err(key, problem, Some(span))
    }

    fn validate(&self, raw: RawConfig, origin: &Path) -> Result<Config, ConfigError> {
        let server = self.server(raw.server)?;
        let database = self.database(raw.database)?;
        let auth = self.auth(raw.auth)?;
        let accounting = self.accounting(raw.accounting, &auth)?;
        let throttle = self.throttle(raw.throttle)?;
        let messages = self.messages(raw.messages)?;
        let clients = self.clients(raw.client, &auth)?;
        let reply = self.reply(raw.reply, raw.business.clone())?;
        let branding = self.branding(&raw.business, origin.parent())?;
        let business_timezones = self.business_timezones(&raw.business)?;
        let portal = self.portal(raw.portal, origin.parent())?;
        let radsec = self.radsec(raw.radsec, origin.parent())?;
        let api = ApiConfig {
            listen: match raw.api.listen {
                None => None,
                Some(v) if v.get_ref().trim().is_empty() => None,
                Some(v) => Some(self.listen(
                    "api.listen",
                    Some(v),
                    SocketAddr::from(([127, 0, 0, 1], 8080)),
                )?),
            },
            tls: self.tls("api", raw.api.tls_cert, raw.api.tls_key, origin.parent())?,
            metrics_key: match raw.api.metrics_key {
                None => None,
                Some(k) if k.get_ref().trim().chars().count() < 16 => {
                    return Err(self.err(
                        "api.metrics_key",
                        "must have at least 16 characters (it is a password for /metrics)",
                        Some(k.span()),
                    ))
                }
                Some(k) => Some(Hidden(k.get_ref().trim().to_string())),
            },
        };
        Ok(Config {
            source: ConfigSource::File(origin.to_path_buf()),
            server,
            database,
            auth,
            accounting,
            throttle,
            messages,
            clients,
            reply,
            api,
            branding,
            portal,
            radsec,
            business_timezones,
        })
    }

    /// `[[business]] timezone`: an IANA name, like `server.timezone`.
    fn business_timezones(
        &self,
        businesses: &[RawBusiness],
    ) -> Result<std::collections::BTreeMap<i64, chrono_tz::Tz>, ConfigError> {
        let mut out = std::collections::BTreeMap::new();
        for (i, b) in businesses.iter().enumerate() {
            let (Some(id), Some(tz)) = (&b.id, &b.timezone) else {
                continue;
            };
            out.insert(
                *id.get_ref(),
                self.timezone(&format!("business[{i}].timezone"), tz)?,
            );
        }
        Ok(out)
    }

    /// An IANA time zone name (`UTC`, `Europe/Berlin`).
    fn timezone(&self, key: &str, tz: &Spanned<String>) -> Result<chrono_tz::Tz, ConfigError> {
        tz.get_ref().trim().parse::<chrono_tz::Tz>().map_err(|_| {
            self.err(
                key,
                format!(
                    "unknown time zone {:?}: expected an IANA name such as \"UTC\" or \"Europe/Berlin\"",
                    tz.get_ref()
                ),
                Some(tz.span()),
            )
        })
    }

    /// `[radsec]`: with `listen`, the three PEM files (relative to the
    /// config file's directory) are required and loaded now, so that a bad
    /// file stops the start with a message naming the key.
    fn radsec(&self, raw: RawRadsec, dir: Option<&Path>) -> Result<RadsecConfig, ConfigError> {
        let d = RadsecConfig::default();
        let max_connections = self.int(
            "radsec.max_connections",
            &raw.max_connections,
            d.max_connections as i64,
            1..=65_536,
            "",
        )? as usize;
        let idle_timeout = secs(self.int(
            "radsec.idle_timeout",
            &raw.idle_timeout,
            d.idle_timeout.as_secs() as i64,
            10..=86_400,
            " seconds",
        )?);
        let handshake_timeout = secs(self.int(
            "radsec.handshake_timeout",
            &raw.handshake_timeout,
            d.handshake_timeout.as_secs() as i64,
            1..=60,
            " seconds",
        )?);
        let listen = match raw.listen {
            None => None,
            Some(v) if v.get_ref().trim().is_empty() => None,
            Some(v) => Some(self.listen(
                "radsec.listen",
                Some(v),
                SocketAddr::from(([0, 0, 0, 0], 2083)),
            )?),
        };
        let tls = match listen {
            None => None,
            Some(_) => {
                let path = |key: &str,
                            v: Sp<String>|
                 -> Result<(PathBuf, Range<usize>), ConfigError> {
                    let v = v.ok_or_else(|| {
                        self.err(
                            format!("radsec.{key}"),
                            "is required with radsec.listen (a PEM file; see the README, \"RadSec\")",
                            None,
                        )
                    })?;
                    let p = PathBuf::from(v.get_ref().trim());
                    let p = match dir {
                        Some(d) if p.is_relative() => d.join(p),
                        _ => p,
                    };
                    Ok((p, v.span()))
                };
                let (certificate, cs) = path("certificate", raw.certificate)?;
                let (private_key, ks) = path("private_key", raw.private_key)?;
                let (client_ca, cas) = path("client_ca", raw.client_ca)?;
                let config =
                    crate::tls::radsec_server_config(&certificate, &private_key, &client_ca)
                        .map_err(|p| match p {
                            crate::tls::Problem::Cert(e) => {
                                self.err("radsec.certificate", e, Some(cs))
                            }
                            crate::tls::Problem::Key(e) => {
                                self.err("radsec.private_key", e, Some(ks))
                            }
                            crate::tls::Problem::Ca(e) => {
                                self.err("radsec.client_ca", e, Some(cas))
                            }
                        })?;
                Some(RadsecTls {
                    certificate,
                    private_key,
                    client_ca,
                    config,
                })
            }
        };
        Ok(RadsecConfig {
            listen,
            tls,
            max_connections,
            idle_timeout,
            handshake_timeout,
        })
    }

    fn portal(&self, raw: RawPortal, dir: Option<&Path>) -> Result<PortalConfig, ConfigError> {
        let listen = match raw.listen {
            None => None,
            Some(v) if v.get_ref().trim().is_empty() => None,
            Some(v) => Some(self.listen(
                "portal.listen",
                Some(v),
                SocketAddr::from(([0, 0, 0, 0], 8081)),
            )?),
        };
        let mut p = PortalConfig {
            listen,
            ..PortalConfig::default()
        };
        if let Some(v) = raw.public_url {
            let url = v.get_ref().trim().trim_end_matches('/');
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or("");
            let host = host.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty()
                || host.contains('@')
                || url.contains(['?', '#'])
                || url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<')
            {
                return Err(self.err(
                    "portal.public_url",
                    format!("{url:?} is not an address like \"http://wifi.example.net:8081\" (how guests' browsers reach the portal)"),
                    Some(v.span()),
                ));
            }
            p.public_url = Some(url.to_string());
        }
        if p.listen.is_some() && p.public_url.is_none() {
            return Err(self.err(
                "portal.public_url",
                "is required with portal.listen: the address guests' browsers reach the portal at, e.g. \"http://wifi.example.net:8081\"",
                None,
            ));
        }
        if let Some(v) = raw.login_targets {
            let (mut nets, mut hosts) = (Vec::new(), Vec::new());
            for t in v.get_ref() {
                let t = t.trim();
                let is_name = !t.is_empty()
                    && t.len() <= 253
                    && t.chars().any(|c| c.is_ascii_alphabetic())
                    && !t.contains(':')
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                match parse_network(t) {
                    Ok(n) => nets.push(n),
                    Err(_) if is_name => hosts.push(t.to_ascii_lowercase()),
                    Err(e) => {
                        return Err(self.err(
                            "portal.login_targets",
                            format!("{e} (entries are IP addresses, CIDR ranges or host names)"),
                            Some(v.span()),
                        ))
                    }
                }
            }
            if nets.is_empty() && hosts.is_empty() {
                return Err(self.err(
                    "portal.login_targets",
                    "is empty: the portal could then send no guest to a hotspot's login; list the \
                     hotspots' addresses, or leave it out for the private ranges",
                    Some(v.span()),
                ));
            }
            p.login_targets = nets;
            p.login_hosts = hosts;
        }
        if let Some(v) = raw.translations {
            let path = PathBuf::from(v.get_ref().trim());
            let path = match dir {
                Some(d) if path.is_relative() => d.join(path),
                _ => path,
            };
            p.translations = read_translations(&path)
                .map_err(|e| self.err("portal.translations", e, Some(v.span())))?;
        }
        p.tls = self.tls("portal", raw.tls_cert, raw.tls_key, dir)?;
        Ok(p)
    }

    /// `<section>.tls_cert` + `tls_key` (both or neither; relative to the
    /// config file's directory), loaded now so that a bad file stops the
    /// start with a message naming the setting.
    fn tls(
        &self,
        section: &str,
        cert: Sp<String>,
        key: Sp<String>,
        dir: Option<&Path>,
    ) -> Result<Option<crate::tls::Tls>, ConfigError> {
        let path = |v: &Spanned<String>| {
            let p = PathBuf::from(v.get_ref().trim());
            match dir {
                Some(d) if p.is_relative() => d.join(p),
                _ => p,
            }
        };
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(c), None) => Err(self.err(
                format!("{section}.tls_key"),
                format!("is required with {section}.tls_cert: the certificate's private key (PEM)"),
                Some(c.span()),
            )),
            (None, Some(k)) => Err(self.err(
                format!("{section}.tls_cert"),
                format!("is required with {section}.tls_key: the certificate (PEM)"),
                Some(k.span()),
            )),
            (Some(c), Some(k)) => {
                let (cert, key) = (path(&c), path(&k));
                match crate::tls::server_config(&cert, &key) {
                    Ok(config) => Ok(Some(crate::tls::Tls { cert, key, config })),
                    Err(crate::tls::Problem::Cert(e)) => {
                        Err(self.err(format!("{section}.tls_cert"), e, Some(c.span())))
                    }
                    Err(crate::tls::Problem::Key(e)) => {
                        Err(self.err(format!("{section}.tls_key"), e, Some(k.span())))
                    }
                    Err(crate::tls::Problem::Ca(e)) => {
                        Err(self.err(format!("{section}.tls_cert"), e, Some(c.span())))
                    }
                }
            }
        }
    }

    /// `[[business]]` branding of the guest pages (ids already checked by
    /// [`Self::reply`]). A relative `logo` is relative to the config
    /// file's directory.
    fn branding(
        &self,
        businesses: &[RawBusiness],
        dir: Option<&Path>,
    ) -> Result<std::collections::BTreeMap<i64, crate::portal::Branding>, ConfigError> {
        let mut out = std::collections::BTreeMap::new();
        for (i, b) in businesses.iter().enumerate() {
            let Some(id) = &b.id else { continue };
            if b.name.is_none()
                && b.logo.is_none()
                && b.accent_color.is_none()
                && b.terms_url.is_none()
                && b.network.is_none()
                && b.voucher_login_url.is_none()
            {
                continue;
            }
            let section = format!("business[{i}]");
            let mut br = crate::portal::Branding::default();
            if let Some(v) = &b.name {
                let name = v.get_ref().trim();
                if name.is_empty()
                    || name.chars().count() > 80
                    || name.chars().any(char::is_control)
                {
                    return Err(self.err(
                        format!("{section}.name"),
                        "must be 1 to 80 characters, without control characters",
                        Some(v.span()),
                    ));
                }
                br.name = name.to_string();
            }
            if let Some(v) = &b.accent_color {
                br.accent_color = crate::portal::accent_color(v.get_ref())
                    .map_err(|e| self.err(format!("{section}.accent_color"), e, Some(v.span())))?;
            }
            if let Some(v) = &b.terms_url {
                let url = v.get_ref().trim();
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.len() > "https://".len()
                    && url.len() <= 2000
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(self.err(
                        format!("{section}.terms_url"),
                        format!("{url:?} is not an http:// or https:// address"),
                        Some(v.span()),
                    ));
                }
                br.terms_url = Some(url.to_string());
            }
            if let Some(v) = &b.network {
                let n = v.get_ref().trim();
                if n.is_empty() || n.chars().count() > 32 || n.chars().any(char::is_control) {
                    return Err(self.err(
                        format!("{section}.network"),
                        "must be the network's name (SSID): 1 to 32 characters",
                        Some(v.span()),
                    ));
                }
                br.network = Some(n.to_string());
            }
            if let Some(v) = &b.voucher_login_url {
                let url = v.get_ref().trim();
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.contains("{code}")
                    && url.len() <= 1000
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(self.err(
                        format!("{section}.voucher_login_url"),
                        format!(
                            "{url:?} is not an http(s) address with {{code}} in it (the QR code on a voucher: \
                             e.g. \"http://10.5.50.1/login?username={{code}}&password={{code}}\")"
                        ),
                        Some(v.span()),
                    ));
                }
                br.voucher_login_url = Some(url.to_string());
            }
            if let Some(v) = &b.logo {
                if v.get_ref().trim().is_empty() {
                    return Err(self.err(
                        format!("{section}.logo"),
                        "is empty: give an image file (png, jpg, gif, svg or webp), or leave it out",
                        Some(v.span()),
                    ));
                }
                let path = PathBuf::from(v.get_ref().trim());
                let path = match dir {
                    Some(d) if path.is_relative() => d.join(path),
                    _ => path,
                };
                br.logo = Some(
                    crate::portal::read_logo(&path)
                        .map_err(|e| self.err(format!("{section}.logo"), e, Some(v.span())))?,
                );
            }
            out.insert(*id.get_ref(), br);
        }
        Ok(out)
    }

    /// One level of reply settings (`[reply]` or a `[[business]]`).
    fn reply_settings(
        &self,
        section: &str,
        idle_timeout: Sp<i64>,
        rate_limit: Sp<String>,
        class: Sp<String>,
    ) -> Result<ReplySettings, ConfigError> {
        let idle_timeout = match &idle_timeout {
            None => None,
            Some(_) => Some(self.int(
                &format!("{section}.idle_timeout"),
                &idle_timeout,
                0,
                0..=30 * 86_400,
                " seconds (0: not sent)",
            )? as u32),
        };
        let rate_limit = match rate_limit {
            None => None,
            Some(v) if v.get_ref().trim().is_empty() => Some(String::new()),
            Some(v) => match crate::policy::reply::parse_rate_limit(v.get_ref()) {
                Ok(_) => Some(v.get_ref().trim().to_string()),
                Err(e) => return Err(self.err(format!("{section}.rate_limit"), e, Some(v.span()))),
            },
        };
        let class = match class {
            None => None,
            Some(v) if v.get_ref().len() > MAX_REPLY_MESSAGE_BYTES => {
                return Err(self.err(
                    format!("{section}.class"),
                    format!(
                        "is too long: {} bytes, at most {MAX_REPLY_MESSAGE_BYTES}",
                        v.get_ref().len()
                    ),
                    Some(v.span()),
                ))
            }
            Some(v) => Some(v.into_inner()),
        };
        Ok(ReplySettings {
            idle_timeout,
            rate_limit,
            class,
        })
    }

    fn reply(
        &self,
        raw: RawReply,
        businesses: Vec<RawBusiness>,
    ) -> Result<ReplyConfig, ConfigError> {
        let defaults = self.reply_settings("reply", raw.idle_timeout, raw.rate_limit, raw.class)?;
        let mut by_id = std::collections::HashMap::new();
        for (i, b) in businesses.into_iter().enumerate() {
            let section = format!("business[{i}]");
            let Some(id) = b.id else {
                return Err(self.err(
                    format!("{section}.id"),
                    "is required (the BusinessId these settings apply to)",
                    self.array_header_span("business", i),
                ));
            };
            if *id.get_ref() < 0 {
                return Err(self.err(
                    format!("{section}.id"),
                    format!("must be 0 or greater, got {}", id.get_ref()),
                    Some(id.span()),
                ));
            }
            let settings = self.reply_settings(&section, b.idle_timeout, b.rate_limit, b.class)?;
            if by_id.insert(*id.get_ref(), settings).is_some() {
                return Err(self.err(
                    format!("{section}.id"),
                    format!("BusinessId {} appears twice", id.get_ref()),
                    Some(id.span()),
                ));
            }
        }
        Ok(ReplyConfig {
            defaults,
            wispr_bandwidth: raw.wispr_bandwidth.unwrap_or(true),
            session_terminate_time: raw.session_terminate_time.unwrap_or(false),
            businesses: by_id,
        })
    }

    fn throttle(&self, raw: RawThrottle) -> Result<ThrottleConfig, ConfigError> {
        let d = ThrottleConfig::default();
        let n = |key: &str, v: &Sp<i64>, def: i64, range: RangeInclusive<i64>, unit: &str| {
            self.int(&format!("throttle.{key}"), v, def, range, unit)
        };
        Ok(ThrottleConfig {
            device_failures: n(
                "device_failures",
                &raw.device_failures,
                d.device_failures as i64,
                0..=1000,
                "",
            )? as u32,
            device_window: secs(n(
                "device_window",
                &raw.device_window,
                d.device_window.as_secs() as i64,
                1..=86_400,
                " seconds",
            )?),
            device_cooldown: secs(n(
                "device_cooldown",
                &raw.device_cooldown,
                d.device_cooldown.as_secs() as i64,
                1..=86_400,
                " seconds",
            )?),
            nas_failures: n(
                "nas_failures",
                &raw.nas_failures,
                d.nas_failures as i64,
                0..=100_000,
                "",
            )? as u32,
            nas_window: secs(n(
                "nas_window",
                &raw.nas_window,
                d.nas_window.as_secs() as i64,
                1..=86_400,
                " seconds",
            )?),
            nas_cooldown: secs(n(
                "nas_cooldown",
                &raw.nas_cooldown,
                d.nas_cooldown.as_secs() as i64,
                1..=86_400,
                " seconds",
            )?),
            max_tracked: n(
                "max_tracked",
                &raw.max_tracked,
                d.max_tracked as i64,
                1000..=10_000_000,
                "",
            )? as usize,
        })
    }

    fn accounting(
        &self,
        raw: RawAccounting,
        auth: &AuthConfig,
    ) -> Result<AccountingConfig, ConfigError> {
        let intervals = self.int(
            "accounting.stale_after_intervals",
            &raw.stale_after_intervals,
            DEFAULT_STALE_AFTER_INTERVALS,
            2..=100,
            "",
        )?;
        let no_interim = self.int(
            "accounting.stale_after_no_interim",
            &raw.stale_after_no_interim,
            DEFAULT_STALE_AFTER_NO_INTERIM_S,
            600..=30 * 86_400,
            " seconds",
        )?;
        let sweep = self.int(
            "accounting.sweep_interval",
            &raw.sweep_interval,
            DEFAULT_SWEEP_INTERVAL_S,
            1..=3600,
            " seconds",
        )?;
        let stale_after = if auth.acct_interim_interval == 0 {
            secs(no_interim)
        } else {
            secs(intervals * auth.acct_interim_interval as i64)
        };
        Ok(AccountingConfig {
            stale_after,
            sweep_interval: secs(sweep),
        })
    }

    fn server(&self, raw: RawServer) -> Result<ServerConfig, ConfigError> {
        let d = ServerConfig::default();
        let auth_listen = self.listen("server.auth_listen", raw.auth_listen, d.auth_listen)?;
        let acct_listen =
            self.listen("server.acct_listen", raw.acct_listen.clone(), d.acct_listen)?;
        if auth_listen == acct_listen && auth_listen.port() != 0 {
            return Err(self.err(
                "server.acct_listen",
                format!("{acct_listen} is also server.auth_listen; the two listeners need different ports"),
                raw.acct_listen.map(|s| s.span()),
            ));
        }
        let timezone = match &raw.timezone {
            None => d.timezone,
            Some(tz) => self.timezone("server.timezone", tz)?,
        };
        let duplicate_window = secs(self.int(
            "server.duplicate_window",
            &raw.duplicate_window,
            DEFAULT_DUPLICATE_WINDOW_S,
            1..=60,
            " seconds",
        )?);
        let log_format = match raw.log_format {
            None => d.log_format,
            Some(v) => match v.get_ref().as_str().map(|s| s.trim().to_ascii_lowercase()) {
                Some(s) if s == "text" => LogFormat::Text,
                Some(s) if s == "json" => LogFormat::Json,
                _ => {
                    return Err(self.err(
                        "server.log_format",
                        format!("must be \"text\" or \"json\", got {}", v.get_ref()),
                        Some(v.span()),
                    ))
                }
            },
        };
        Ok(ServerConfig {
            auth_listen,
            acct_listen,
            timezone,
            duplicate_window,
            mask_codes: raw.mask_codes.unwrap_or(true),
            log_format,
        })
    }

    fn listen(
        &self,
        key: &str,
        raw: Sp<String>,
        default: SocketAddr,
    ) -> Result<SocketAddr, ConfigError> {
        let Some(v) = raw else { return Ok(default) };
        let s = v.get_ref().trim();
        s.parse::<SocketAddr>().map_err(|_| {
            let hint = if s.parse::<IpAddr>().is_ok() {
                " (the port is missing)"
            } else {
                ""
            };
            self.err(
                key,
                format!(
                    "{s:?} is not a listen address{hint}: expected IP:port, e.g. \"0.0.0.0:{port}\" or \"[::]:{port}\"",
                    port = default.port()
                ),
                Some(v.span()),
            )
        })
    }

    fn database(&self, raw: RawDatabase) -> Result<DatabaseConfig, ConfigError> {
        let d = DatabaseConfig::default();
        let url = match raw.url {
            None => d.url,
            Some(v) => {
                let url = v.get_ref().trim().to_string();
                check_database_url(&url)
                    .map_err(|p| self.err("database.url", p, Some(v.span())))?;
                url
            }
        };
        let synchronous = match raw.synchronous {
            None => d.synchronous,
            Some(v) => match v.get_ref().as_str().map(|s| s.trim().to_ascii_lowercase()) {
                Some(s) if s == "full" => Synchronous::Full,
                Some(s) if s == "normal" => Synchronous::Normal,
                _ => {
                    return Err(self.err(
                        "database.synchronous",
                        format!("must be \"full\" or \"normal\", got {}", v.get_ref()),
                        Some(v.span()),
                    ))
                }
            },
        };
        let busy_timeout = millis(self.int(
            "database.busy_timeout_ms",
            &raw.busy_timeout_ms,
            DEFAULT_BUSY_TIMEOUT_MS,
            0..=600_000,
            " milliseconds",
        )?);
        Ok(DatabaseConfig {
            url,
            synchronous,
            busy_timeout,
        })
    }

    fn auth(&self, raw: RawAuth) -> Result<AuthConfig, ConfigError> {
        let d = AuthConfig::default();
        let acct_interim_interval = match &raw.acct_interim_interval {
            None => d.acct_interim_interval,
            Some(v) => {
                let n = *v.get_ref();
                if n != 0 && !(60..=86_400).contains(&n) {
                    return Err(self.err(
                        "auth.acct_interim_interval",
                        format!("must be 0 (do not send) or between 60 and 86400 seconds, got {n}"),
                        Some(v.span()),
                    ));
                }
                n as u32
            }
        };
        let pending_place_ttl = secs(self.int(
            "auth.pending_place_ttl",
            &raw.pending_place_ttl,
            DEFAULT_PENDING_PLACE_TTL_S,
            5..=3600,
            " seconds",
        )?);
        Ok(AuthConfig {
            acct_interim_interval,
            pending_place_ttl,
            bind_mac_on_first_use: raw.bind_mac_on_first_use.unwrap_or(d.bind_mac_on_first_use),
            case_sensitive_codes: raw.case_sensitive_codes.unwrap_or(d.case_sensitive_codes),
            accept_any_password: raw.accept_any_password.unwrap_or(d.accept_any_password),
        })
    }

    fn int(
        &self,
        key: &str,
        v: &Sp<i64>,
        default: i64,
        range: RangeInclusive<i64>,
        unit: &str,
    ) -> Result<i64, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        let n = *v.get_ref();
        if !range.contains(&n) {
            return Err(self.err(
                key,
                format!(
                    "must be between {} and {}{unit}, got {n}",
                    range.start(),
                    range.end()
                ),
                Some(v.span()),
            ));
        }
        Ok(n)
    }

    fn messages(&self, raw: RawMessages) -> Result<Messages, ConfigError> {
        let d = Messages::default();
        let m = |key: &str, v: Sp<String>, default: String| -> Result<String, ConfigError> {
            let Some(v) = v else { return Ok(default) };
            let len = v.get_ref().len();
            if len == 0 || len > MAX_REPLY_MESSAGE_BYTES {
                return Err(self.err(
                    format!("messages.{key}"),
                    format!(
                        "must be 1 to {MAX_REPLY_MESSAGE_BYTES} bytes (the RADIUS attribute limit), got {len}"
                    ),
                    Some(v.span()),
                ));
            }
            Ok(v.into_inner())
        };
        Ok(Messages {
            unknown_code: m("unknown_code", raw.unknown_code, d.unknown_code)?,
            wrong_password: m("wrong_password", raw.wrong_password, d.wrong_password)?,
            not_yet_valid: m("not_yet_valid", raw.not_yet_valid, d.not_yet_valid)?,
            expired: m("expired", raw.expired, d.expired)?,
            already_used: m("already_used", raw.already_used, d.already_used)?,
            no_minutes_left: m("no_minutes_left", raw.no_minutes_left, d.no_minutes_left)?,
            data_used_up: m("data_used_up", raw.data_used_up, d.data_used_up)?,
            mac_mismatch: m("mac_mismatch", raw.mac_mismatch, d.mac_mismatch)?,
            user_limit_reached: m(
                "user_limit_reached",
                raw.user_limit_reached,
                d.user_limit_reached,
            )?,
            throttled: m("throttled", raw.throttled, d.throttled)?,
        })
    }

    fn clients(
        &self,
        raw: Vec<RawClient>,
        auth: &AuthConfig,
    ) -> Result<Vec<ClientConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err(
                "client",
                "no [[client]] defined: every request would be dropped",
                None,
            ));
        }
        let mut clients: Vec<ClientConfig> = Vec::with_capacity(raw.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, rc) in raw.into_iter().enumerate() {
            let header_span = self.array_header_span("client", i);
            let name_str = rc.name.as_ref().map(|n| n.get_ref().as_str());
            let label = client_label(i, name_str);
            let key = |field: &str| format!("{label}.{field}");
            let missing = |field: &str| {
                self.err(
                    key(field),
                    "missing: every [[client]] needs name, address and secret",
                    header_span.clone(),
                )
            };

            let name = rc.name.ok_or_else(|| missing("name"))?;
            if name.get_ref().trim().is_empty() {
                return Err(self.err(key("name"), "must not be empty", Some(name.span())));
            }
            if let Some(&j) = names.get(name.get_ref()) {
                return Err(self.err(
                    key("name"),
                    format!(
                        "duplicate name: client[{j}] is also called {:?}",
                        name.get_ref()
                    ),
                    Some(name.span()),
                ));
            }
            names.insert(name.get_ref().clone(), i);

            let address = rc.address.ok_or_else(|| missing("address"))?;
            let network = parse_network(address.get_ref())
                .map_err(|p| self.err(key("address"), p, Some(address.span())))?;

            let radsec = rc.radsec.unwrap_or(false);
            let secret = match (rc.secret, radsec) {
                (Some(s), _) => s,
                (None, false) => return Err(missing("secret")),
                // RFC 6614 §2.3: over TLS the secret protects nothing; "radsec".
                (None, true) => Spanned::new(0..0, RADSEC_SECRET.to_string()),
            };
            let chars = secret.get_ref().chars().count();
            if chars == 0 {
                return Err(self.err(key("secret"), "shared secret is empty", Some(secret.span())));
            }
            if secret.get_ref().trim().is_empty() {
                return Err(self.err(
                    key("secret"),
                    "shared secret is only white space",
                    Some(secret.span()),
                ));
            }
            if [REFERENCE_SECRET, GUIDE_SECRET].contains(&secret.get_ref().as_str()) {
                return Err(self.err(
                    key("secret"),
                    "still the placeholder of the reference config or a guide: set a random secret \
                     of your own (the same on the NAS), e.g. from `openssl rand -base64 24`",
                    Some(secret.span()),
                ));
            }
            if chars < MIN_SECRET_CHARS && !radsec {
                return Err(self.err(
                    key("secret"),
                    format!(
                        "shared secret is too short: {chars} characters, at least {MIN_SECRET_CHARS} required (16+ recommended)"
                    ),
                    Some(secret.span()),
                ));
            }

            let require_message_authenticator = match rc.require_message_authenticator {
                None => MaPolicy::Auto,
                Some(v) => parse_ma_policy(v.get_ref()).ok_or_else(|| {
                    self.err(
                        key("require_message_authenticator"),
                        format!("must be \"yes\", \"no\" or \"auto\", got {}", v.get_ref()),
                        Some(v.span()),
                    )
                })?,
            };

            let business_id = match rc.business_id {
                None => None,
                Some(v) if *v.get_ref() < 0 => {
                    return Err(self.err(
                        key("business_id"),
                        format!("must be 0 or greater, got {}", v.get_ref()),
                        Some(v.span()),
                    ))
                }
                Some(v) => Some(v.into_inner()),
            };

            let coa_port = match rc.coa_port {
                None => None,
                Some(v) => match u16::try_from(*v.get_ref()) {
                    Ok(p) if p > 0 => Some(p),
                    _ => {
                        return Err(self.err(
                            key("coa_port"),
                            format!(
                                "must be a UDP port 1-65535 (3799 is the standard, RouterOS uses 1700), got {}",
                                v.get_ref()
                            ),
                            Some(v.span()),
                        ))
                    }
                },
            };

            let uam_secret = match rc.uam_secret {
                None => None,
                Some(v) if v.get_ref().is_empty() => None,
                Some(v) if v.get_ref().len() > 128 || v.get_ref().chars().any(char::is_control) => {
                    return Err(self.err(
                        key("uam_secret"),
                        "must be at most 128 characters, without control characters",
                        Some(v.span()),
                    ))
                }
                Some(v) => Some(v.into_inner()),
            };

            let hotspot_login_url = match rc.hotspot_login_url {
                None => None,
                Some(v) => {
                    let url = v.get_ref().trim();
                    let rest = url
                        .strip_prefix("http://")
                        .or_else(|| url.strip_prefix("https://"))
                        .unwrap_or("");
                    if rest.is_empty()
                        || rest.starts_with('/')
                        || url.len() > 2000
                        || url.chars().any(|c| {
                            c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>'
                        })
                    {
                        return Err(self.err(
                            key("hotspot_login_url"),
                            format!(
                                "{url:?} is not an address like \"http://10.5.50.1/login\" (where a guest's \
                                 login starts on this hotspot)"
                            ),
                            Some(v.span()),
                        ));
                    }
                    Some(url.to_string())
                }
            };

            for (j, other) in clients.iter().enumerate() {
                // UDP and RadSec entries are looked up separately.
                if other.radsec == radsec && nets_overlap(&network, &other.network) {
                    return Err(self.err(
                        key("address"),
                        format!(
                            "{network} overlaps {} of {}: every source address must belong to exactly one client",
                            other.network,
                            client_label(j, Some(&other.name)),
                        ),
                        Some(address.span()),
                    ));
                }
            }

            clients.push(ClientConfig {
                name: name.into_inner(),
                network,
                secret: secret.into_inner(),
                require_message_authenticator,
                accept_any_password: rc.accept_any_password.unwrap_or(auth.accept_any_password),
                business_id,
                limit_proxy_state: rc.limit_proxy_state.unwrap_or(true),
                coa_port,
                uam_secret,
                hotspot_login_url,
                radsec,
            });
        }
        Ok(clients)
    }

    /// Byte span of the `i`-th `[[name]]` header, for errors about the table as a whole.
    fn array_header_span(&self, name: &str, i: usize) -> Option<Range<usize>> {
        let mut offset = 0;
        let mut seen = 0;
        for line in self.text.split('\n') {
            if let Some(Header::Array(n)) = parse_header(line) {
                if n == name {
                    if seen == i {
                        return Some(offset..offset + line.len());
                    }
                    seen += 1;
                }
            }
            offset += line.len() + 1;
        }
        None
    }
}

/// `client[2] "lobby"` (or `client[2]` when the name is unknown).
fn client_label(i: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("client[{i}] {n:?}"),
        None => format!("client[{i}]"),
    }
}

fn parse_ma_policy(v: &toml::Value) -> Option<MaPolicy> {
    match v {
        toml::Value::Boolean(true) => Some(MaPolicy::Yes),
        toml::Value::Boolean(false) => Some(MaPolicy::No),
        toml::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" => Some(MaPolicy::Yes),
            "no" => Some(MaPolicy::No),
            "auto" => Some(MaPolicy::Auto),
            _ => None,
        },
        _ => None,
    }
}

/// One IP address or a CIDR range with zero host bits. IPv4-mapped IPv6
/// (`::ffff:192.0.2.1`) becomes IPv4, matching how `find_client` looks up.
/// A venue's language files: `<lang>.toml` in `dir` (lang: 2 or 3
/// letters), each checked by `portal::i18n::parse`.
fn read_translations(dir: &Path) -> Result<Vec<crate::portal::i18n::Catalog>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let lang = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !(2..=3).contains(&lang.len()) || !lang.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(format!(
                "{}: name it after its language, e.g. it.toml or pt.toml",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        out.push(
            crate::portal::i18n::parse(&lang, &text)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    Ok(out)
}

fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "{s:?} is not an IP address or CIDR range (e.g. \"192.0.2.10\", \"192.0.2.0/24\", \"2001:db8::/32\")"
        )
    };
    let net = if s.contains('/') {
        let net: IpNet = s.parse().map_err(|_| bad())?;
        if net.trunc() != net {
            return Err(format!(
                "{s} has host bits set: did you mean {}?",
                net.trunc()
            ));
        }
        net
    } else {
        IpNet::from(s.parse::<IpAddr>().map_err(|_| bad())?)
    };
    if let IpNet::V6(v6) = net {
        if v6.prefix_len() >= 96 {
            if let Some(v4) = v6.network().to_ipv4_mapped() {
                return Ok(IpNet::V4(
                    Ipv4Net::new(v4, v6.prefix_len() - 96).expect("prefix <= 32"),
                ));
            }
        }
    }
    Ok(net)
}

/// CIDR ranges either nest or are disjoint.
fn nets_overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

// --- helpers for mapping toml/serde errors ---------------------------------

enum Header {
    Table(String),
    Array(String),
}

fn parse_header(line: &str) -> Option<Header> {
    let t = line.trim_start();
    if let Some(r) = t.strip_prefix("[[") {
        let end = r.find("]]")?;
        Some(Header::Array(norm_key(&r[..end])))
    } else if let Some(r) = t.strip_prefix('[') {
        let end = r.find(']')?;
        Some(Header::Table(norm_key(&r[..end])))
    } else {
        None
    }
}

/// `server . "auth_listen"` -> `server.auth_listen`.
fn norm_key(k: &str) -> String {
    k.split('.')
        .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect::<Vec<_>>()
        .join(".")
}

fn join_key(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    }
}

/// Key path of the table that line `idx` belongs to (`server`, `client[1] "x"`).
fn section_before(lines: &[&str], idx: usize, doc: &toml::Table) -> String {
    let mut current = String::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines.iter().take(idx) {
        match parse_header(line) {
            Some(Header::Table(n)) => current = n,
            Some(Header::Array(n)) => {
                let c = counts.entry(n.clone()).or_default();
                current = if n == "client" {
                    let name = doc
                        .get("client")
                        .and_then(|v| v.as_array())
                        .and_then(|a| a.get(*c))
                        .and_then(|v| v.get("name"))
                        .and_then(|v| v.as_str());
                    client_label(*c, name)
                } else {
                    format!("{n}[{c}]")
                };
                *c += 1;
            }
            None => {}
        }
    }
    current
}

/// `unknown field `x`, expected one of `a`, `b`` -> (`x`, "a, b").
fn parse_unknown_field(msg: &str) -> Option<(String, String)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (name, tail) = rest.split_once('`')?;
    let allowed = if let Some(list) = tail
        .strip_prefix(", expected one of ")
        .or_else(|| tail.strip_prefix(", expected "))
    {
        list.replace('`', "")
    } else {
        "none".to_string()
    };
    Some((name.to_string(), allowed))
}

fn tidy_serde_message(msg: &str) -> String {
    let msg = match msg.find("expected struct Raw") {
        Some(i) => format!("{}expected a table", &msg[..i]),
        None => msg.to_string(),
    };
    msg.replace("expected i64", "expected an integer")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a sequence", "expected an array")
}

/// Joins a multi-line message into one line: `a\nb` -> `a: b`.
fn one_line(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ORIGIN: &str = "/etc/radgate/test.toml";

    const ONE_CLIENT: &str = r#"
[[client]]
name = "lobby"
address = "192.0.2.0/24"
secret = "a long shared secret"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new(ORIGIN))
    }

    /// `extra` followed by one valid client.
    fn with_client(extra: &str) -> Result<Config, ConfigError> {
        parse(&format!("{extra}\n{ONE_CLIENT}"))
    }

    #[track_caller]
    fn assert_err(result: Result<Config, ConfigError>, key: &str, needle: &str) -> ConfigError {
        let err = result.expect_err("expected a config error");
        let shown = err.to_string();
        assert_eq!(err.file, ORIGIN, "{shown}");
        assert_eq!(err.key, key, "{shown}");
        assert!(shown.starts_with(&format!("{ORIGIN}: {key}")), "{shown}");
        assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
        assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
        assert!(
            shown.matches("(line ").count() <= 1,
            "line number given twice: {shown:?}"
        );
        err
    }

    fn client(name: &str, address: &str) -> String {
        format!("[[client]]\nname = \"{name}\"\naddress = \"{address}\"\nsecret = \"0123456789abcdef\"\n")
    }

    #[test]
    fn defaults_with_one_client() {
        let c = with_client("").unwrap();
        assert_eq!(c.source, ConfigSource::File(PathBuf::from(ORIGIN)));
        assert!(!c.is_builtin());
        assert_eq!(c.server.auth_listen, "127.0.0.1:1812".parse().unwrap());
        assert_eq!(c.server.acct_listen, "127.0.0.1:1813".parse().unwrap());
        assert_eq!(c.server.timezone, chrono_tz::UTC);
        assert_eq!(c.server.duplicate_window, Duration::from_secs(5));
        assert_eq!(c.database.url, "sqlite://radgate.db");
        assert_eq!(c.database.synchronous, Synchronous::Full);
        assert_eq!(c.database.busy_timeout, Duration::from_millis(5000));
        assert_eq!(c.auth.acct_interim_interval, 300);
        assert_eq!(c.auth.pending_place_ttl, Duration::from_secs(60));
        assert!(!c.auth.bind_mac_on_first_use);
        assert!(!c.auth.case_sensitive_codes);
        assert!(!c.auth.accept_any_password);
        assert_eq!(c.messages, Messages::default());
        assert_eq!(c.messages.unknown_code, "Unknown access code");
        assert_eq!(
            c.messages.user_limit_reached,
            "Too many devices are using this access code"
        );
        assert_eq!(c.clients.len(), 1);
        let cl = &c.clients[0];
        assert_eq!(cl.name, "lobby");
        assert_eq!(cl.network, "192.0.2.0/24".parse::<IpNet>().unwrap());
        assert_eq!(cl.secret, "a long shared secret");
        assert_eq!(cl.require_message_authenticator, MaPolicy::Auto);
        assert!(!cl.accept_any_password);
        assert_eq!(cl.business_id, None);
    }

    #[test]
    fn builtin_default() {
        let c = Config::builtin_default();
        assert!(c.is_builtin());
        assert_eq!(c.source, ConfigSource::BuiltinDefault);
        assert_eq!(c.server.auth_listen, "127.0.0.1:1812".parse().unwrap());
        assert_eq!(c.server.acct_listen, "127.0.0.1:1813".parse().unwrap());
        assert_eq!(c.database.url, "sqlite://radgate.db");
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients[0].name, "localhost");
        assert_eq!(
            c.clients[0].network,
            "127.0.0.1/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(c.clients[0].secret, "testing123");
        assert!(c.find_client(IpAddr::V4(Ipv4Addr::LOCALHOST)).is_some());
        assert!(c.find_client("127.0.0.2".parse().unwrap()).is_none());
        // Same values as an equivalent file.
        let f = parse(
            "[[client]]\nname = \"localhost\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
        )
        .unwrap();
        assert_eq!(
            Config {
                source: ConfigSource::BuiltinDefault,
                ..f
            },
            c
        );
        assert!(c.describe().contains("built-in defaults"));
    }

    #[test]
    fn full_example() {
        let c = parse(
            r#"
[server]
auth_listen = "0.0.0.0:11812"
acct_listen = "[::]:11813"
timezone = "Europe/Berlin"
duplicate_window = 10

[database]
url = "sqlite:///var/lib/radgate/radgate.db"
synchronous = "normal"
busy_timeout_ms = 250

[auth]
acct_interim_interval = 0
pending_place_ttl = 120
bind_mac_on_first_use = true
case_sensitive_codes = true
accept_any_password = true

[messages]
unknown_code = "a"
wrong_password = "b"
not_yet_valid = "c"
expired = "d"
no_minutes_left = "e"
data_used_up = "h"
mac_mismatch = "f"
user_limit_reached = "g"

[[client]]
name = "lobby"
address = "192.0.2.0/24"
secret = "0123456789abcdef"
require_message_authenticator = "yes"
accept_any_password = false
business_id = 7

[[client]]
name = "v6 single"
address = "2001:db8::1"
secret = "ünïcödé!"
require_message_authenticator = "NO"

[[client]]
name = "bool policy"
address = "198.51.100.7"
secret = "0123456789abcdef"
require_message_authenticator = true
"#,
        )
        .unwrap();
        assert_eq!(c.server.auth_listen, "0.0.0.0:11812".parse().unwrap());
        assert_eq!(c.server.acct_listen, "[::]:11813".parse().unwrap());
        assert_eq!(c.server.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(c.server.duplicate_window, Duration::from_secs(10));
        assert_eq!(c.database.url, "sqlite:///var/lib/radgate/radgate.db");
        assert_eq!(c.database.synchronous, Synchronous::Normal);
        assert_eq!(c.database.busy_timeout, Duration::from_millis(250));
        assert_eq!(c.auth.acct_interim_interval, 0);
        assert_eq!(c.auth.pending_place_ttl, Duration::from_secs(120));
        assert!(
            c.auth.bind_mac_on_first_use
                && c.auth.case_sensitive_codes
                && c.auth.accept_any_password
        );
        let m = &c.messages;
        assert_eq!(
            [
                &m.unknown_code,
                &m.wrong_password,
                &m.not_yet_valid,
                &m.expired,
                &m.no_minutes_left,
                &m.mac_mismatch,
                &m.user_limit_reached,
                &m.data_used_up
            ],
            ["a", "b", "c", "d", "e", "f", "g", "h"]
        );
        assert_eq!(c.clients.len(), 3);
        let [a, b, d] = [&c.clients[0], &c.clients[1], &c.clients[2]];
        assert_eq!(a.require_message_authenticator, MaPolicy::Yes);
        assert!(!a.accept_any_password, "client value overrides [auth]");
        assert_eq!(a.business_id, Some(7));
        assert_eq!(b.network, "2001:db8::1/128".parse::<IpNet>().unwrap());
        assert_eq!(b.require_message_authenticator, MaPolicy::No);
        assert!(b.accept_any_password, "inherits [auth].accept_any_password");
        assert_eq!(b.business_id, None);
        assert_eq!(d.network, "198.51.100.7/32".parse::<IpNet>().unwrap());
        assert_eq!(d.require_message_authenticator, MaPolicy::Yes);
    }

    #[test]
    fn shipped_reference_config_parses() {
        let text = include_str!("../config/radgate.toml");
        // As shipped it is refused for its placeholder secret...
        let e = Config::from_toml_str(text, Path::new("config/radgate.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret") && e.contains("placeholder"), "{e}");
        // ...and parses once the secret is set.
        let text = text.replace(REFERENCE_SECRET, "0123456789abcdef0123");
        // The guides' placeholder is refused too.
        let guide = text.replace("0123456789abcdef0123", GUIDE_SECRET);
        let e = Config::from_toml_str(&guide, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("placeholder"), "{e}");
        let c = Config::from_toml_str(&text, Path::new("config/radgate.toml")).unwrap();
        // It documents the defaults.
        let d = Config::builtin_default();
        assert_eq!(c.server, d.server);
        assert_eq!(c.database, d.database);
        assert_eq!(c.auth, d.auth);
        assert_eq!(c.messages, d.messages);
        assert_eq!(c.reply.wispr_bandwidth, d.reply.wispr_bandwidth);
        assert_eq!(
            c.reply.session_terminate_time,
            d.reply.session_terminate_time
        );
        assert_eq!(c.reply.businesses, d.reply.businesses);
        assert_eq!(c.clients.len(), 1);
        assert!(c.clients[0].secret.chars().count() >= 16);
        assert_eq!(c.clients[0].require_message_authenticator, MaPolicy::Auto);
        // And it mentions every key the parser knows.
        for key in [
            "auth_listen",
            "acct_listen",
            "timezone",
            "duplicate_window",
            "url",
            "synchronous",
            "busy_timeout_ms",
            "acct_interim_interval",
            "pending_place_ttl",
            "stale_after_intervals",
            "stale_after_no_interim",
            "sweep_interval",
            "mask_codes",
            "log_format",
            "limit_proxy_state",
            "coa_port",
            "uam_secret",
            "public_url",
            "login_targets",
            "translations",
            "accent_color",
            "terms_url",
            "logo",
            "listen",
            "idle_timeout",
            "rate_limit",
            "wispr_bandwidth",
            "session_terminate_time",
            "class",
            "id",
            "device_failures",
            "device_window",
            "device_cooldown",
            "nas_failures",
            "nas_window",
            "nas_cooldown",
            "max_tracked",
            "throttled",
            "bind_mac_on_first_use",
            "case_sensitive_codes",
            "accept_any_password",
            "unknown_code",
            "wrong_password",
            "not_yet_valid",
            "expired",
            "already_used",
            "no_minutes_left",
            "data_used_up",
            "mac_mismatch",
            "user_limit_reached",
            "name",
            "address",
            "secret",
            "require_message_authenticator",
            "business_id",
            "radsec",
            "certificate",
            "private_key",
            "client_ca",
            "max_connections",
            "handshake_timeout",
        ] {
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("# {key} = ")),
                "{key} not documented"
            );
        }
    }

    #[test]
    fn unknown_keys() {
        assert_err(
            with_client("[server]\nauth_lisen = \"0.0.0.0:1812\""),
            "server.auth_lisen",
            "unknown key",
        );
        let e = assert_err(
            with_client("\n[database]\nsyncronous = \"full\""),
            "database.syncronous",
            "allowed here: url, synchronous, busy_timeout_ms",
        );
        assert!(e.problem.ends_with("(line 3)"), "{e}");
        assert_err(with_client("[serverr]"), "serverr", "unknown key");
        assert_err(
            with_client("listen = 1"),
            "listen",
            "allowed here: server, database, auth, accounting, throttle, messages, client",
        );
        assert_err(with_client("[auth]\nfoo = true"), "auth.foo", "unknown key");
        assert_err(
            with_client("[messages]\nhello = \"x\""),
            "messages.hello",
            "unknown key",
        );
        assert_err(
            with_client("[server.extra]\nx = 1"),
            "server.extra",
            "unknown key",
        );
        assert_err(
            parse(&format!(
                "{}\n{}nas_type = \"mikrotik\"\n",
                client("a", "192.0.2.1"),
                client("b", "192.0.2.2")
            )),
            "client[1] \"b\".nas_type",
            "unknown key",
        );
    }

    #[test]
    fn reply_and_business() {
        let base = client("a", "192.0.2.1");
        let c = parse(&format!(
            "[reply]\nidle_timeout = 600\nrate_limit = \"2M/5M\"\nclass = \"guest\"\n\
             session_terminate_time = true\n\n[[business]]\nid = 3\nrate_limit = \"10M/20M\"\n\n{base}"
        ))
        .unwrap();
        assert_eq!(c.reply.defaults.idle_timeout, Some(600));
        assert_eq!(c.reply.defaults.rate_limit.as_deref(), Some("2M/5M"));
        assert_eq!(c.reply.defaults.class.as_deref(), Some("guest"));
        assert!(c.reply.session_terminate_time && c.reply.wispr_bandwidth);
        assert_eq!(
            c.reply.businesses[&3].rate_limit.as_deref(),
            Some("10M/20M")
        );
        assert_eq!(c.reply.businesses[&3].idle_timeout, None);
        assert_err(
            parse(&format!("[reply]\nrate_limit = \"fast\"\n{base}")),
            "reply.rate_limit",
            "is not a rate limit",
        );
        assert_err(
            parse(&format!("[reply]\nidle_timeout = -1\n{base}")),
            "reply.idle_timeout",
            "must be between 0 and",
        );
        assert_err(
            parse(&format!("[[business]]\nrate_limit = \"1M\"\n{base}")),
            "business[0].id",
            "is required",
        );
        assert_err(
            parse(&format!(
                "[[business]]\nid = 1\n[[business]]\nid = 1\n{base}"
            )),
            "business[1].id",
            "appears twice",
        );
    }

    #[test]
    fn business_timezone() {
        let base = client("a", "192.0.2.1");
        let c = parse(&format!(
            "[server]\ntimezone = \"Europe/London\"\n\n[[business]]\nid = 1\ntimezone = \"Europe/Berlin\"\n\n\
             [[business]]\nid = 2\ntimezone = \" America/New_York \"\n\n[[business]]\nid = 3\nclass = \"x\"\n\n{base}"
        ))
        .unwrap();
        assert_eq!(c.zone_of(1), chrono_tz::Europe::Berlin);
        assert_eq!(c.zone_of(2), chrono_tz::America::New_York);
        // Without a zone of its own, and a business not configured at all:
        // server.timezone.
        assert_eq!(c.zone_of(3), chrono_tz::Europe::London);
        assert_eq!(c.zone_of(99), chrono_tz::Europe::London);
        let z = c.zones();
        assert_eq!(z.of(1), chrono_tz::Europe::Berlin);
        assert_eq!(z.of(0), chrono_tz::Europe::London);
        assert_eq!(z.of_filter(Some(2)), chrono_tz::America::New_York);
        assert_eq!(z.of_filter(None), chrono_tz::Europe::London);
        assert!(c
            .describe()
            .contains("time zone of business 2: America/New_York"));
        let e = assert_err(
            parse(&format!(
                "[[business]]\nid = 1\ntimezone = \"UTC\"\n[[business]]\nid = 2\ntimezone = \"Mars/Olympus\"\n{base}"
            )),
            "business[1].timezone",
            "unknown time zone \"Mars/Olympus\": expected an IANA name",
        );
        assert!(e.to_string().contains("(line 6)"), "{e}");
        assert_err(
            parse(&format!("[[business]]\nid = 1\ntimezone = \"\"\n{base}")),
            "business[0].timezone",
            "unknown time zone \"\"",
        );
        assert_err(
            parse(&format!("[[business]]\nid = 1\ntimezone = 1\n{base}")),
            "business[0].timezone",
            "",
        );
        assert_err(
            parse(&format!("[[business]]\ntimezone = \"UTC\"\n{base}")),
            "business[0].id",
            "is required",
        );
    }

    #[test]
    fn coa_port() {
        let c = parse(&format!("{}coa_port = 1700\n", client("a", "192.0.2.1"))).unwrap();
        assert_eq!(c.clients[0].coa_port, Some(1700));
        let c = parse(&client("a", "192.0.2.1")).unwrap();
        assert_eq!(c.clients[0].coa_port, None, "off unless set");
        for bad in ["0", "65536", "-1"] {
            assert_err(
                parse(&format!("{}coa_port = {bad}\n", client("a", "192.0.2.1"))),
                "client[0] \"a\".coa_port",
                "must be a UDP port 1-65535",
            );
        }
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_err(
            with_client("[server]\nduplicate_window = \"5\""),
            "server.duplicate_window",
            "expected an integer (line 2)",
        );
        assert_err(
            with_client("[server]\nauth_listen = 1812"),
            "server.auth_listen",
            "expected a string",
        );
        assert_err(
            with_client("[auth]\ncase_sensitive_codes = \"yes\""),
            "auth.case_sensitive_codes",
            "expected true or false",
        );
        assert_err(with_client("server = 5"), "server", "expected a table");
        assert_err(
            parse("[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\nsecret = 12345678\n"),
            "client[0] \"a\".secret",
            "must be a string in quotes (line 4)",
        );
    }

    #[test]
    fn syntax_errors_are_one_line_with_line_number() {
        for (text, line) in [
            ("[server\n", "line 1"),
            (&format!("{ONE_CLIENT}\n[auth]\nx = = 1\n")[..], "line 8"),
            ("a = 1\na = 2\n", "line 2"),
        ] {
            let e = parse(text).unwrap_err();
            let shown = e.to_string();
            assert!(e.key.is_empty(), "{shown}");
            assert!(
                shown.starts_with(&format!("{ORIGIN}: TOML syntax error: ")),
                "{shown}"
            );
            assert!(shown.contains(line), "{shown}");
            assert!(!shown.contains('\n'), "{shown:?}");
        }
    }

    #[test]
    fn server_values() {
        assert_err(
            with_client("[server]\nauth_listen = \"0.0.0.0\""),
            "server.auth_listen",
            "port is missing",
        );
        assert_err(
            with_client("[server]\nacct_listen = \"localhost:1813\""),
            "server.acct_listen",
            "not a listen address",
        );
        assert_err(
            with_client("[server]\nacct_listen = \"127.0.0.1:1812\""),
            "server.acct_listen",
            "different ports",
        );
        // Port 0 (ephemeral, for tests) may be used for both.
        assert!(with_client(
            "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\""
        )
        .is_ok());
        assert_err(
            with_client("[server]\ntimezone = \"Mars/Olympus\""),
            "server.timezone",
            "unknown time zone \"Mars/Olympus\"",
        );
        assert_err(
            with_client("[server]\nduplicate_window = 0"),
            "server.duplicate_window",
            "between 1 and 60 seconds, got 0",
        );
        assert_err(
            with_client("[server]\nduplicate_window = 61"),
            "server.duplicate_window",
            "got 61",
        );
        let format = |v: &str| with_client(&format!("[server]\nlog_format = {v}"));
        assert_eq!(with_client("").unwrap().server.log_format, LogFormat::Text);
        assert_eq!(
            format("\"json\"").unwrap().server.log_format,
            LogFormat::Json
        );
        assert_eq!(
            format("\"JSON\"").unwrap().server.log_format,
            LogFormat::Json
        );
        assert_eq!(
            format("\"text\"").unwrap().server.log_format,
            LogFormat::Text
        );
        assert_err(
            format("\"xml\""),
            "server.log_format",
            "must be \"text\" or \"json\", got \"xml\"",
        );
        assert_err(
            format("true"),
            "server.log_format",
            "must be \"text\" or \"json\", got true",
        );
    }

    #[test]
    fn database_values() {
        // PostgreSQL (SPEC §8): multi-host with target_session_attrs, and
        // a unix socket.
        for url in [
            "postgres://u:pw@db1,db2/radgate?target_session_attrs=read-write",
            "postgresql://db/radgate",
            "postgres://radgate@/radgate?host=/var/run/postgresql",
        ] {
            let c = with_client(&format!("[database]\nurl = \"{url}\""))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.database.url, url);
        }
        let e = assert_err(
            with_client("[database]\nurl = \"postgres://u:hunter2@db/x?sslmode=nonsense\""),
            "database.url",
            "not a PostgreSQL URL",
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(
            e.to_string().contains("sslmode"),
            "names the parameter: {e}"
        );
        // No TLS to PostgreSQL: a URL that demands it is refused at once.
        assert_err(
            with_client("[database]\nurl = \"postgres://u@db/x?sslmode=require\""),
            "database.url",
            "without TLS",
        );
        with_client("[database]\nurl = \"postgres://u@db/x?sslmode=disable\"").unwrap();
        assert_eq!(
            redact_url("postgres://u@/x?host=/s&password=hunter2"),
            "postgres://u@/x?host=/s&password=***"
        );
        let e = assert_err(
            with_client("[database]\nurl = \"mysql://u:hunter2@db/x\""),
            "database.url",
            "unsupported database URL scheme \"mysql\"",
        );
        assert!(!e.to_string().contains("hunter2"));
        assert_err(
            with_client("[database]\nurl = \"\""),
            "database.url",
            "must not be empty",
        );
        assert_err(
            with_client("[database]\nurl = \"sqlite://\""),
            "database.url",
            "no database file",
        );
        assert!(with_client("[database]\nurl = \"sqlite::memory:\"").is_ok());
        assert!(with_client("[database]\nurl = \"sqlite:data/r.db?mode=rwc\"").is_ok());
        assert_err(
            with_client("[database]\nsynchronous = \"off\""),
            "database.synchronous",
            "must be \"full\" or \"normal\", got \"off\"",
        );
        assert_err(
            with_client("[database]\nsynchronous = 2"),
            "database.synchronous",
            "must be \"full\" or \"normal\", got 2",
        );
        assert_eq!(
            with_client("[database]\nsynchronous = \"FULL\"")
                .unwrap()
                .database
                .synchronous,
            Synchronous::Full
        );
        assert_err(
            with_client("[database]\nbusy_timeout_ms = -1"),
            "database.busy_timeout_ms",
            "between 0 and 600000 milliseconds",
        );
    }

    #[test]
    fn auth_values() {
        assert_err(
            with_client("[auth]\nacct_interim_interval = 30"),
            "auth.acct_interim_interval",
            "0 (do not send) or between 60 and 86400 seconds, got 30",
        );
        assert_err(
            with_client("[auth]\nacct_interim_interval = 86401"),
            "auth.acct_interim_interval",
            "got 86401",
        );
        assert_err(
            with_client("[auth]\nacct_interim_interval = -5"),
            "auth.acct_interim_interval",
            "got -5",
        );
        assert_eq!(
            with_client("[auth]\nacct_interim_interval = 60")
                .unwrap()
                .auth
                .acct_interim_interval,
            60
        );
        assert_eq!(
            with_client("[auth]\nacct_interim_interval = 86400")
                .unwrap()
                .auth
                .acct_interim_interval,
            86400
        );
        assert_err(
            with_client("[auth]\npending_place_ttl = 4"),
            "auth.pending_place_ttl",
            "between 5 and 3600 seconds, got 4",
        );
        assert_err(
            with_client("[auth]\npending_place_ttl = 3601"),
            "auth.pending_place_ttl",
            "got 3601",
        );
    }

    #[test]
    fn message_lengths() {
        assert_err(
            with_client("[messages]\nexpired = \"\""),
            "messages.expired",
            "must be 1 to 253 bytes",
        );
        let long = "x".repeat(254);
        assert_err(
            with_client(&format!("[messages]\nmac_mismatch = \"{long}\"")),
            "messages.mac_mismatch",
            "got 254",
        );
        // 127 two-byte characters = 254 bytes.
        let wide = "é".repeat(127);
        assert_err(
            with_client(&format!("[messages]\nunknown_code = \"{wide}\"")),
            "messages.unknown_code",
            "got 254",
        );
        let ok = "x".repeat(253);
        assert_eq!(
            with_client(&format!("[messages]\nwrong_password = \"{ok}\""))
                .unwrap()
                .messages
                .wrong_password,
            ok
        );
    }

    #[test]
    fn no_clients() {
        assert_err(
            parse(""),
            "client",
            "no [[client]] defined: every request would be dropped",
        );
        assert_err(
            parse("[server]\ntimezone = \"UTC\"\n"),
            "client",
            "every request would be dropped",
        );
    }

    #[test]
    fn radsec_section_and_clients() {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("radgate.toml");
        let load = |text: &str| Config::from_toml_str(text, &origin);
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        let section = |extra: &str| {
            format!(
                "[radsec]\nlisten = \"127.0.0.1:2083\"\n{extra}\n{}\n[[client]]\nname = \"tls\"\naddress = \"192.0.2.0/24\"\nradsec = true\n",
                client("udp", "192.0.2.1")
            )
        };
        let key_of = |r: Result<Config, ConfigError>| r.unwrap_err().key;
        assert_eq!(key_of(load(&section(""))), "radsec.certificate");
        let files = "certificate = \"cert.pem\"\nprivate_key = \"key.pem\"\n";
        assert_eq!(key_of(load(&section(files))), "radsec.client_ca");
        let e = load(&section(&format!("{files}client_ca = \"nope.pem\""))).unwrap_err();
        assert_eq!(e.key, "radsec.client_ca");
        assert!(e.problem.contains("cannot read"), "{e}");
        let e = load(&section(
            "certificate = \"key.pem\"\nprivate_key = \"key.pem\"\nclient_ca = \"cert.pem\"",
        ))
        .unwrap_err();
        assert_eq!(e.key, "radsec.certificate", "{e}");
        let good = format!("{files}client_ca = \"cert.pem\"");
        let c = load(&section(&good)).unwrap();
        assert_eq!(c.radsec.listen, Some("127.0.0.1:2083".parse().unwrap()));
        let tls = c.radsec.tls.as_ref().unwrap();
        assert_eq!(tls.client_ca, dir.path().join("cert.pem"));
        assert_eq!(c.radsec.max_connections, 256);
        assert_eq!(c.radsec.idle_timeout, Duration::from_secs(300));
        // A RadSec client without a secret has "radsec"; it may share
        // addresses with a UDP client, not with another RadSec client.
        let tls_client = c.clients.iter().find(|c| c.radsec).unwrap();
        assert_eq!(tls_client.secret, RADSEC_SECRET);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        let e = load(&format!(
            "{}[[client]]\nname = \"tls2\"\naddress = \"192.0.2.7\"\nradsec = true\n",
            section(&good)
        ))
        .unwrap_err();
        assert!(e.problem.contains("overlaps"), "{e}");
        let e = load(&section(&format!("{good}\nidle_timeout = 5"))).unwrap_err();
        assert_eq!(e.key, "radsec.idle_timeout");
        // A UDP client still needs its secret; without listen, a warning.
        assert_err(
            parse("[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\nradsec = false\n"),
            "client[0] \"a\".secret",
            "missing",
        );
        let off = parse(&format!(
            "{ONE_CLIENT}\n[[client]]\nname = \"t\"\naddress = \"192.0.2.9\"\nradsec = true\n"
        ))
        .unwrap();
        assert!(off.warnings().iter().any(|w| w.contains("RadSec is off")));
        // Moving the listener takes a restart.
        let mut moved = c.clone();
        moved.radsec.listen = Some("127.0.0.1:2084".parse().unwrap());
        assert!(c.restart_needed(&moved)[0].starts_with("radsec.listen"));
    }

    #[test]
    fn client_required_keys() {
        let e = assert_err(
            parse("[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\n"),
            "client[0] \"a\".secret",
            "missing",
        );
        assert!(e.problem.contains("(line 1)"), "{e}");
        let two = format!(
            "{}\n[[client]]\naddress = \"192.0.2.2\"\nsecret = \"0123456789\"\n",
            client("a", "192.0.2.1")
        );
        let e = assert_err(
            parse(&two),
            "client[1].name",
            "every [[client]] needs name, address and secret",
        );
        assert!(e.problem.contains("(line 6)"), "{e}");
        assert_err(
            parse("[[client]]\nname = \"a\"\nsecret = \"0123456789\"\n"),
            "client[0] \"a\".address",
            "missing",
        );
    }

    #[test]
    fn client_name_errors() {
        assert_err(
            parse(&client("", "192.0.2.1")),
            "client[0] \"\".name",
            "must not be empty",
        );
        assert_err(
            parse(&client("  ", "192.0.2.1")),
            "client[0] \"  \".name",
            "must not be empty",
        );
        let dup = format!(
            "{}{}{}",
            client("a", "192.0.2.1"),
            client("b", "192.0.2.2"),
            client("a", "192.0.2.3")
        );
        assert_err(
            parse(&dup),
            "client[2] \"a\".name",
            "duplicate name: client[0] is also called \"a\"",
        );
    }

    #[test]
    fn client_address_errors() {
        assert_err(
            parse(&client("a", "lobby.example")),
            "client[0] \"a\".address",
            "not an IP address or CIDR range",
        );
        assert_err(
            parse(&client("a", "192.0.2.0/33")),
            "client[0] \"a\".address",
            "not an IP address or CIDR range",
        );
        assert_err(
            parse(&client("a", "192.0.2.0/")),
            "client[0] \"a\".address",
            "not an IP address",
        );
        assert_err(
            parse(&client("lobby", "192.0.2.1/24")),
            "client[0] \"lobby\".address",
            "host bits set: did you mean 192.0.2.0/24?",
        );
        assert_err(
            parse(&client("a", "2001:db8::1/64")),
            "client[0] \"a\".address",
            "did you mean 2001:db8::/64?",
        );
        // A single address and mapped IPv6 are normalised.
        let c = parse(&client("a", " 192.0.2.9 ")).unwrap();
        assert_eq!(
            c.clients[0].network,
            "192.0.2.9/32".parse::<IpNet>().unwrap()
        );
        let c = parse(&client("a", "::ffff:192.0.2.0/120")).unwrap();
        assert_eq!(
            c.clients[0].network,
            "192.0.2.0/24".parse::<IpNet>().unwrap()
        );
        let c = parse(&client("a", "::ffff:192.0.2.9")).unwrap();
        assert_eq!(
            c.clients[0].network,
            "192.0.2.9/32".parse::<IpNet>().unwrap()
        );
    }

    #[test]
    fn client_secret_errors() {
        let s = |secret: &str| {
            parse(&format!(
                "[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\nsecret = \"{secret}\"\n"
            ))
        };
        assert_err(s(""), "client[0] \"a\".secret", "shared secret is empty");
        assert_err(
            s("          "),
            "client[0] \"a\".secret",
            "shared secret is only white space",
        );
        // Unquoted (a number): refused without repeating it.
        let e =
            parse("[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\nsecret = 12345678901234\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("must be a string in quotes"), "{e}");
        assert!(!e.contains("12345678901234"), "secret leaked: {e}");
        let e = assert_err(
            s("short"),
            "client[0] \"a\".secret",
            "shared secret is too short: 5 characters, at least 8 required (16+ recommended)",
        );
        assert!(!e.to_string().contains("\"short\""), "secret leaked: {e}");
        // Counted in characters, not bytes.
        assert_err(s("ééééééé"), "client[0] \"a\".secret", "7 characters");
        assert!(s("12345678").is_ok());
    }

    #[test]
    fn client_policy_and_business_errors() {
        let base = "[[client]]\nname = \"a\"\naddress = \"192.0.2.1\"\nsecret = \"0123456789\"\n";
        assert_err(
            parse(&format!(
                "{base}require_message_authenticator = \"maybe\"\n"
            )),
            "client[0] \"a\".require_message_authenticator",
            "must be \"yes\", \"no\" or \"auto\", got \"maybe\"",
        );
        assert_err(
            parse(&format!("{base}require_message_authenticator = 1\n")),
            "client[0] \"a\".require_message_authenticator",
            "\"yes\", \"no\" or \"auto\"",
        );
        assert_eq!(
            parse(&format!("{base}require_message_authenticator = false\n"))
                .unwrap()
                .clients[0]
                .require_message_authenticator,
            MaPolicy::No
        );
        assert_err(
            parse(&format!("{base}business_id = -1\n")),
            "client[0] \"a\".business_id",
            "must be 0 or greater",
        );
        assert_eq!(
            parse(&format!("{base}business_id = 0\n")).unwrap().clients[0].business_id,
            Some(0)
        );
    }

    #[test]
    fn overlapping_ranges_v4() {
        let t = format!(
            "{}{}{}",
            client("wide", "192.0.2.0/24"),
            client("other", "198.51.100.0/24"),
            client("narrow", "192.0.2.128/25")
        );
        let e = assert_err(
            parse(&t),
            "client[2] \"narrow\".address",
            "192.0.2.128/25 overlaps 192.0.2.0/24 of client[0] \"wide\"",
        );
        assert!(e.problem.contains("(line 11)"), "{e}");
        // Narrow first, wide second: also detected.
        let t = format!(
            "{}{}",
            client("one", "192.0.2.77"),
            client("all", "0.0.0.0/0")
        );
        assert_err(
            parse(&t),
            "client[1] \"all\".address",
            "0.0.0.0/0 overlaps 192.0.2.77/32 of client[0] \"one\"",
        );
        // Same single host twice.
        let t = format!(
            "{}{}",
            client("x", "192.0.2.5"),
            client("y", "192.0.2.5/32")
        );
        assert_err(parse(&t), "client[1] \"y\".address", "overlaps");
        // Mapped IPv6 overlaps IPv4.
        let t = format!(
            "{}{}",
            client("v4", "192.0.2.0/24"),
            client("mapped", "::ffff:192.0.2.1")
        );
        assert_err(
            parse(&t),
            "client[1] \"mapped\".address",
            "overlaps 192.0.2.0/24 of client[0] \"v4\"",
        );
        // Adjacent ranges are fine.
        let t = format!(
            "{}{}",
            client("lo", "192.0.2.0/25"),
            client("hi", "192.0.2.128/25")
        );
        assert_eq!(parse(&t).unwrap().clients.len(), 2);
    }

    #[test]
    fn overlapping_ranges_v6() {
        let t = format!(
            "{}{}",
            client("site", "2001:db8::/32"),
            client("ap", "2001:db8:1::5")
        );
        assert_err(
            parse(&t),
            "client[1] \"ap\".address",
            "2001:db8:1::5/128 overlaps 2001:db8::/32 of client[0] \"site\"",
        );
        let t = format!(
            "{}{}",
            client("a", "2001:db8::/48"),
            client("b", "2001:db8:1::/48")
        );
        assert_eq!(parse(&t).unwrap().clients.len(), 2);
        // v4 and v6 never overlap.
        let t = format!("{}{}", client("any4", "0.0.0.0/0"), client("any6", "::/0"));
        assert_eq!(parse(&t).unwrap().clients.len(), 2);
    }

    #[test]
    fn find_client_lookup() {
        let t = format!(
            "{}{}{}",
            client("lan", "192.0.2.0/24"),
            client("nas", "198.51.100.7"),
            client("v6", "2001:db8::/64")
        );
        let c = parse(&t).unwrap();
        let find = |s: &str| c.find_client(s.parse().unwrap()).map(|c| c.name.as_str());
        assert_eq!(find("192.0.2.200"), Some("lan"));
        assert_eq!(find("198.51.100.7"), Some("nas"));
        assert_eq!(find("198.51.100.8"), None);
        assert_eq!(find("2001:db8::42"), Some("v6"));
        assert_eq!(find("2001:db8:0:1::42"), None);
        // IPv4-mapped IPv6 (dual-stack socket) is looked up as IPv4.
        assert_eq!(find("::ffff:192.0.2.1"), Some("lan"));
        assert_eq!(find("::ffff:198.51.100.7"), Some("nas"));
        let mapped = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 8).to_ipv6_mapped());
        assert!(c.find_client(mapped).is_none());
        assert!(c.find_client(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_none());
    }

    #[test]
    fn secrets_are_never_shown() {
        let c = with_client("").unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("a long shared secret"), "{debug}");
        let d = c.describe();
        assert!(!d.contains("a long shared secret"), "{d}");
        assert!(d.contains(ORIGIN), "{d}");
        assert!(
            d.contains("127.0.0.1:1812") && d.contains("127.0.0.1:1813"),
            "{d}"
        );
        assert!(
            d.contains("sqlite://radgate.db") && d.contains("UTC"),
            "{d}"
        );
        assert!(
            d.contains("\"lobby\" 192.0.2.0/24: message-authenticator=auto"),
            "{d}"
        );
        assert_eq!(
            redact_url("postgres://u:pw@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://radgate.db"), "sqlite://radgate.db");
    }

    #[test]
    fn error_display() {
        let e = ConfigError {
            file: "f".into(),
            key: "k".into(),
            problem: "p".into(),
        };
        assert_eq!(e.to_string(), "f: k: p");
        let e = ConfigError {
            file: "f".into(),
            key: String::new(),
            problem: "p".into(),
        };
        assert_eq!(e.to_string(), "f: p");
    }

    #[test]
    fn lookup_order_without_env() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, client_name: &str| {
            let p = dir.path().join(name);
            fs::write(&p, client(client_name, "192.0.2.1")).unwrap();
            p
        };
        let explicit = write("explicit.toml", "explicit");
        let from_env = write("env.toml", "env");
        let local = write("local.toml", "local");
        let system = write("system.toml", "system");
        let missing = dir.path().join("missing.toml");
        let name = |c: Config| c.clients[0].name.clone();
        let cands = |v: &[&PathBuf]| v.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>();

        let all = cands(&[&local, &system]);
        assert_eq!(
            name(load_with(Some(&explicit), Some(from_env.clone().into()), &all).unwrap()),
            "explicit"
        );
        assert_eq!(
            name(load_with(None, Some(from_env.clone().into()), &all).unwrap()),
            "env"
        );
        assert_eq!(
            name(load_with(None, Some(OsString::new()), &all).unwrap()),
            "local",
            "empty env var = unset"
        );
        assert_eq!(name(load_with(None, None, &all).unwrap()), "local");
        assert_eq!(
            name(load_with(None, None, &cands(&[&missing, &system])).unwrap()),
            "system"
        );
        let c = load_with(None, None, &cands(&[&missing])).unwrap();
        assert!(c.is_builtin());
        let c = load_with(None, None, &all).unwrap();
        assert_eq!(c.source, ConfigSource::File(local.clone()));

        // Explicit or env path that does not exist is an error, not a fallback.
        let e = load_with(Some(&missing), None, &all).unwrap_err();
        assert_eq!(e.file, missing.display().to_string());
        assert!(e.to_string().contains("cannot read: "), "{e}");
        let e = load_with(None, Some(missing.clone().into()), &all).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot read (path taken from $RADGATE_CONFIG): "),
            "{e}"
        );
        // A directory where a file is expected cannot be read.
        let e = load_with(Some(dir.path()), None, &all).unwrap_err();
        assert!(e.problem.starts_with("cannot read"), "{e}");
        // Validation errors carry the file path.
        fs::write(&local, "[server]\nbogus = 1\n").unwrap();
        let e = load_with(None, None, &all).unwrap_err();
        assert_eq!(e.file, local.display().to_string());
        assert_eq!(e.key, "server.bogus");
    }

    /// The only test that touches the process environment.
    #[test]
    fn relative_database_paths_follow_the_config_file() {
        let dir = Path::new("/etc/radgate");
        let r = |u: &str| resolve_sqlite_url(u, dir);
        assert_eq!(r("sqlite://radgate.db"), "sqlite:///etc/radgate/radgate.db");
        assert_eq!(
            r("sqlite:data/r.db?mode=rwc"),
            "sqlite:///etc/radgate/data/r.db?mode=rwc"
        );
        assert_eq!(
            r("sqlite:///var/lib/radgate/radgate.db"),
            "sqlite:///var/lib/radgate/radgate.db"
        );
        assert_eq!(r("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            r("sqlite://x.db?mode=memory&cache=shared"),
            "sqlite://x.db?mode=memory&cache=shared"
        );

        // Loaded from a file: relative to its directory, wherever the
        // process runs.
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("conf");
        fs::create_dir(&sub).unwrap();
        let file = sub.join("radgate.toml");
        fs::write(
            &file,
            "[database]\nurl = \"sqlite://radgate.db\"\n[[client]]\nname = \"a\"\naddress = \"127.0.0.1\"\nsecret = \"a-long-enough-secret\"\n",
        )
        .unwrap();
        let c = load_with(Some(&file), None, &[]).unwrap();
        assert_eq!(
            c.database.url,
            format!("sqlite://{}", sub.join("radgate.db").display())
        );
    }

    #[test]
    fn load_uses_env_var() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("explicit.toml");
        let from_env = dir.path().join("env.toml");
        fs::write(&explicit, client("explicit", "192.0.2.1")).unwrap();
        fs::write(&from_env, client("env", "192.0.2.1")).unwrap();
        let missing = dir.path().join("missing.toml");

        env::set_var(CONFIG_ENV_VAR, &from_env);
        let via_env = Config::load(None);
        let via_explicit = Config::load(Some(&explicit));
        env::set_var(CONFIG_ENV_VAR, &missing);
        let via_missing = Config::load(None);
        env::remove_var(CONFIG_ENV_VAR);

        let via_env = via_env.unwrap();
        assert_eq!(via_env.clients[0].name, "env");
        assert_eq!(via_env.source, ConfigSource::File(from_env));
        assert_eq!(via_explicit.unwrap().clients[0].name, "explicit");
        let e = via_missing.unwrap_err();
        assert_eq!(e.file, missing.display().to_string());
        assert!(e.problem.contains("$RADGATE_CONFIG"), "{e}");
        let e = Config::load(Some(&missing)).unwrap_err();
        assert!(e.problem.starts_with("cannot read: "), "{e}");
    }
}
