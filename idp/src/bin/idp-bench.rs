//! `cargo run --release --bin idp-bench`: starts the release `idp` binary on a fresh SQLite
//! database with production settings, drives it over keep-alive HTTP/1.1 connections from
//! this process, and reports requests/s and p99 latency per endpoint, raw argon2id
//! verifications/s with the same parameters, and the server's resident memory idle and
//! under load. See docs/performance.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Clone)]
struct Args {
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Port the bench sends to: the STS's, or the load balancer's with several instances.
    #[arg(long, default_value_t = 18_080)]
    port: u16,
    /// A PostgreSQL server, as an administrator's URL
    /// (`postgres://idp_test:idp_test@127.0.0.1:5432/postgres`): the bench makes a fresh
    /// database there, and drops it at the end. Without it: a fresh SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    /// STS instances on the one database; more than one run behind Debian's nginx, which
    /// the bench starts on `port` (round robin, keep-alive to the instances).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Then overload: this many seconds of logins arriving at `overload_factor` times the
    /// login rate just measured (open loop, from 2,048 connections), while discovery,
    /// `client_credentials` and UserInfo are measured beside them. 0: skip.
    #[arg(long, default_value_t = 0)]
    overload_seconds: u64,
    /// How many times the sustainable login rate arrives during the overload.
    #[arg(long, default_value_t = 5.0)]
    overload_factor: f64,
    /// Also run every scenario below saturation: open loop at this share of the rate it
    /// reached (0.5: half), latency counted from when each request was due. 0: skip.
    #[arg(long, default_value_t = 0.5)]
    below_saturation: f64,
    /// Measure only the scenarios whose names start with this (e.g. `whole login`, to
    /// profile one under `perf`); the others are skipped.
    #[arg(long)]
    only: Option<String>,
}

impl Args {
    fn selected(&self, scenario: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|prefix| scenario.trim_start().starts_with(prefix))
    }

    /// How long `scenario` runs: none when `--only` leaves it out.
    fn seconds_for(&self, scenario: &str) -> u64 {
        if self.selected(scenario) {
            self.seconds
        } else {
            0
        }
    }
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 exchange on a kept-alive connection; returns status, headers, body.
fn exchange(
    reader: &mut BufReader<TcpStream>,
    request: &[u8],
) -> BenchResult<(u16, String, Vec<u8>)> {
    reader.get_mut().write_all(request)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).ok_or("no status")?.parse()?;
    let mut headers = String::new();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse()?;
        }
        headers.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, headers, body))
}

fn connect(port: u16) -> BenchResult<BufReader<TcpStream>> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    Ok(BufReader::new(s))
}

fn get(path: &str, cookie: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n").into_bytes()
}

fn get_with(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n").into_bytes()
}

fn post(path: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Redeems `code` at the token endpoint, authenticated by `basic`.
fn redemption(code: &str, basic: &str) -> Vec<u8> {
    post(
        "/token",
        &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"),
        basic,
    )
}

/// Uses refresh token `token` at the token endpoint, authenticated by `basic`.
fn refresh(token: &str, basic: &str) -> Vec<u8> {
    post(
        "/token",
        &format!("grant_type=refresh_token&refresh_token={token}"),
        basic,
    )
}

struct Figures {
    name: &'static str,
    rps: f64,
    p99_ms: f64,
    errors: usize,
}

/// What one step of a scenario did: done (its latency counts), refused (an error), or
/// nothing left to do.
enum Step {
    Done,
    Refused,
    Exhausted,
}

/// Runs `op(connection, i)` on every connection for `seconds` and measures each call.
/// The rate is over the time the calls took (a scenario may run out of codes early).
fn load_with(
    name: &'static str,
    args: &Args,
    connections: usize,
    op: impl Fn(&mut BufReader<TcpStream>, usize) -> BenchResult<Step> + Sync,
) -> Figures {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds_for(name));
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(Vec<Duration>, usize, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                let op = &op;
                let counter = &counter;
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    let mut errors = 0;
                    let Ok(mut conn) = connect(args.port) else {
                        return (lat, 1, Instant::now());
                    };
                    while Instant::now() < deadline {
                        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let start = Instant::now();
                        match op(&mut conn, i) {
                            Ok(Step::Done) => lat.push(start.elapsed()),
                            Ok(Step::Refused) => errors += 1,
                            Ok(Step::Exhausted) => break,
                            Err(_) => {
                                errors += 1;
                                match connect(args.port) {
                                    Ok(c) => conn = c,
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    (lat, errors, Instant::now())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let ended = results
        .iter()
        .map(|r| r.2)
        .max()
        .unwrap_or(deadline)
        .min(deadline);
    let mut all: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let errors = results.iter().map(|r| r.1).sum();
    all.sort();
    let p99 = all
        .get(all.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    let took = (ended - started).as_secs_f64().max(0.001);
    Figures {
        name,
        rps: all.len() as f64 / took,
        p99_ms: p99.as_secs_f64() * 1000.0,
        errors,
    }
}

/// Open loop: `op` is due `rate` times a second in all, spread over `connections`, for
/// `seconds`, whatever the answers take. A request's latency counts from when it was due,
/// not from when a busy connection got round to it (no coordinated omission), so queueing
/// shows in the p99. The rate reported is of the calls that succeeded.
fn load_paced(
    name: String,
    seconds: u64,
    port: u16,
    rate: f64,
    connections: usize,
    op: impl Fn(&mut BufReader<TcpStream>, usize) -> BenchResult<Step> + Sync,
) -> PacedFigures {
    let started = Instant::now() + Duration::from_millis(50);
    let deadline = started + Duration::from_secs(seconds);
    let interval = Duration::from_secs_f64(connections as f64 / rate.max(0.001));
    let counter = std::sync::atomic::AtomicUsize::new(0);
    type Latencies = (Vec<Duration>, Vec<Duration>, Vec<Duration>, usize);
    let results: Vec<Latencies> = std::thread::scope(|scope| {
        let (op, counter) = (&op, &counter);
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                scope.spawn(move || {
                    let (mut done, mut served, mut refused, mut sent) =
                        (Vec::new(), Vec::new(), Vec::new(), 0);
                    let Ok(mut conn) = connect(port) else {
                        return (done, served, refused, sent);
                    };
                    let mut due = started + interval.mul_f64(c as f64 / connections as f64);
                    while due < deadline {
                        if let Some(rest) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(rest);
                        }
                        sent += 1;
                        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let sent_at = Instant::now();
                        match op(&mut conn, i) {
                            Ok(Step::Done) => {
                                done.push(due.elapsed());
                                served.push(sent_at.elapsed());
                            }
                            Ok(Step::Refused) => refused.push(sent_at.elapsed()),
                            Ok(Step::Exhausted) => break,
                            Err(_) => match connect(port) {
                                Ok(fresh) => conn = fresh,
                                Err(_) => break,
                            },
                        }
                        due += interval;
                    }
                    (done, served, refused, sent)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let took = seconds as f64;
    let mut done: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let mut served: Vec<Duration> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    let mut refused: Vec<Duration> = results.iter().flat_map(|r| r.2.iter().copied()).collect();
    let sent: usize = results.iter().map(|r| r.3).sum();
    PacedFigures {
        name,
        offered: rate,
        done: done.len() as f64 / took,
        refused: refused.len() as f64 / took,
        failed: (sent - done.len() - refused.len()) as f64 / took,
        p99_ms: p99_ms(&mut done),
        served_p99_ms: p99_ms(&mut served),
        refused_p50_ms: percentile_ms(&mut refused, 50),
        refused_p99_ms: p99_ms(&mut refused),
    }
}

struct PacedFigures {
    name: String,
    offered: f64,
    done: f64,
    refused: f64,
    /// Neither answered as expected nor refused: a broken connection, a time-out.
    failed: f64,
    /// From when each request was due (queueing on the client's side included).
    p99_ms: f64,
    /// From when each was sent: the server's answer time.
    served_p99_ms: f64,
    /// Refusals (503), from when each was sent: the median and the p99.
    refused_p50_ms: f64,
    refused_p99_ms: f64,
}

fn p99_ms(latencies: &mut [Duration]) -> f64 {
    percentile_ms(latencies, 99)
}

fn percentile_ms(latencies: &mut [Duration], percent: usize) -> f64 {
    latencies.sort();
    latencies
        .get(latencies.len().saturating_sub(1) * percent / 100)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Runs `make_request(i)` on every connection; each answer must have status `expect`, and
/// is handed to `seen` (to collect tokens).
fn load(
    name: &'static str,
    args: &Args,
    connections: usize,
    expect: u16,
    make_request: impl Fn(usize) -> Option<Vec<u8>> + Sync,
    seen: impl Fn(&[u8]) + Sync,
) -> Figures {
    load_with(
        name,
        args,
        connections,
        request_op(expect, make_request, seen),
    )
}

/// The step that sends `make_request(i)` and expects status `expect`, handing the body to
/// `seen`.
fn request_op(
    expect: u16,
    make_request: impl Fn(usize) -> Option<Vec<u8>> + Sync,
    seen: impl Fn(&[u8]) + Sync,
) -> impl Fn(&mut BufReader<TcpStream>, usize) -> BenchResult<Step> + Sync {
    move |conn, i| {
        let Some(req) = make_request(i) else {
            return Ok(Step::Exhausted);
        };
        let (status, _, body) = exchange(conn, &req)?;
        if status != expect {
            return Ok(Step::Refused);
        }
        seen(&body);
        Ok(Step::Done)
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The database the instances share: a fresh SQLite file, or a fresh PostgreSQL database
/// (dropped when this goes).
struct Database {
    url: String,
    drop_sql: Option<(String, String)>,
}

impl Database {
    fn new(args: &Args, dir: &std::path::Path) -> BenchResult<Self> {
        let Some(admin) = &args.postgres else {
            return Ok(Self {
                url: format!("sqlite://{}/idp.db", dir.display()),
                drop_sql: None,
            });
        };
        use diesel::RunQueryDsl;
        let name = format!("idp_bench_{}", std::process::id());
        let pool = idp::store::connect(admin, 1)?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut *pool.get()?)?;
        let mut url = url::Url::parse(admin)?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.to_string(),
            drop_sql: Some((
                admin.clone(),
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )),
        })
    }

    fn backend(&self) -> &'static str {
        if self.drop_sql.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        use diesel::RunQueryDsl;
        if let Some((admin, sql)) = &self.drop_sql
            && let Ok(pool) = idp::store::connect(admin, 1)
            && let Ok(mut conn) = pool.get()
        {
            let _ = diesel::sql_query(sql.as_str()).execute(&mut *conn);
        }
    }
}

/// nginx, stopped gracefully (SIGKILL would leave its workers holding the port).
struct Nginx(Child);
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// nginx on `port` in front of the instances' ports: round robin, keep-alive upstream.
fn nginx(dir: &std::path::Path, port: u16, upstreams: &[u16]) -> BenchResult<Nginx> {
    let servers: String = upstreams
        .iter()
        .map(|p| format!("server 127.0.0.1:{p};"))
        .collect();
    let d = dir.display();
    let conf = format!(
        "worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream idp {{ {servers} keepalive 64; keepalive_requests 10000000; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 10000000;
    location / {{
      proxy_pass http://idp; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("nginx (apt-get install nginx): {e}"))?;
    Ok(Nginx(child))
}

fn wait_for(port: u16) {
    for _ in 0..200 {
        if let Ok(mut c) = connect(port)
            && exchange(&mut c, &get("/readyz", "")).is_ok_and(|r| r.0 == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn location(headers: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("location:")
            .then(|| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
            .flatten()
    })
}

fn query_value(url: &str, name: &str) -> Option<String> {
    url.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

fn json_field(body: &[u8], name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get(name)?.as_str().map(str::to_owned)
}

const REDIRECT: &str = "http%3A%2F%2F127.0.0.1%3A9%2Fcb";

/// A relying party's whole login on one connection, as a browser and the application do
/// it: /authorize without a session, the login form, the password, the code at the
/// token endpoint, the access token at UserInfo.
fn whole_login(conn: &mut BufReader<TcpStream>, basic: &str) -> BenchResult<Step> {
    let authorize = format!(
        "/authorize?response_type=code&client_id=bench&redirect_uri={REDIRECT}&scope=openid%20profile&state=s&nonce=n"
    );
    let (status, headers, _) = exchange(conn, &get(&authorize, ""))?;
    let form = location(&headers)
        .filter(|_| status == 303)
        .ok_or("no login form")?;
    let (_, headers, body) = exchange(conn, &get(&form, ""))?;
    let csrf_cookie = cookie_value(&headers, "idp_csrf").ok_or("no csrf cookie")?;
    let page = String::from_utf8_lossy(&body);
    let (request, csrf) = (
        input_value(&page, "request").ok_or("no request")?,
        input_value(&page, "csrf").ok_or("no csrf")?,
    );
    let (status, headers, _) = exchange(
        conn,
        &post(
            "/login",
            &format!("request={request}&csrf={csrf}&identifier=bench.user&password=Babou45%2B"),
            &format!("Cookie: idp_csrf={csrf_cookie}\r\n"),
        ),
    )?;
    if status != 303 {
        return Ok(Step::Refused);
    }
    let code = location(&headers)
        .and_then(|to| query_value(&to, "code"))
        .ok_or("no code")?;
    let (status, _, body) = exchange(conn, &redemption(&code, basic))?;
    let access = json_field(&body, "access_token").filter(|_| status == 200);
    let Some(access) = access else {
        return Ok(Step::Refused);
    };
    let (status, _, _) = exchange(
        conn,
        &get_with("/userinfo", &format!("Authorization: Bearer {access}\r\n")),
    )?;
    Ok(if status == 200 {
        Step::Done
    } else {
        Step::Refused
    })
}

fn main() -> BenchResult<()> {
    let args = Args::parse();
    let exe = std::env::current_exe()?.with_file_name("idp");
    let dir = std::env::temp_dir().join(format!("idp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = Database::new(&args, &dir)?;
    let issuer = format!("http://127.0.0.1:{}", args.port);
    let ports: Vec<u16> = match args.instances {
        0 | 1 => vec![args.port],
        n => (1..=n as u16).map(|i| args.port + i).collect(),
    };
    let idp = |a: &[&str], port: u16| {
        let mut c = Command::new(&exe);
        c.args(a)
            .env("IDP_DATABASE_URL", &database.url)
            .env("IDP_ISSUER", &issuer)
            .env("IDP_LISTEN", format!("127.0.0.1:{port}"))
            .env("IDP_OUTBOX_DIR", dir.join("outbox"))
            // The bench is one address sending everything: a school's, not an attacker's.
            .env("IDP_SCHOOL_NETWORKS", "[\"127.0.0.0/8\"]")
            .env("IDP_TRUSTED_PROXIES", "[\"127.0.0.1/32\"]")
            .env("IDP_LOG", "warn");
        c
    };
    let secret = "bench-client-secret-0123456789abcdefghijkl";
    let ok = idp(
        &[
            "client",
            "create",
            "--id",
            "bench",
            "--name",
            "Bench",
            "--secret",
            secret,
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--grant",
            "client_credentials",
        ],
        ports[0],
    )
    .stdout(Stdio::null())
    .status()?;
    let ok2 = idp(
        &[
            "user",
            "create",
            "--username",
            "bench.user",
            "--email",
            "bench.user@example.org",
            "--password",
            "Babou45+",
        ],
        ports[0],
    )
    .stdout(Stdio::null())
    .status()?;
    if !ok.success() || !ok2.success() {
        return Err("setting up the bench database failed (build with --release first)".into());
    }
    let mut servers = Vec::new();
    for &port in &ports {
        servers.push(Server(idp(&["serve"], port).stdout(Stdio::null()).spawn()?));
        wait_for(port);
    }
    let _balancer = match ports.len() {
        1 => None,
        _ => {
            let lb = nginx(&dir, args.port, &ports)?;
            wait_for(args.port);
            Some(lb)
        }
    };
    let pids: Vec<u32> = servers.iter().map(|s| s.0.id()).collect();
    let rss = || -> f64 { pids.iter().map(|&p| rss_kib(p)).sum::<u64>() as f64 / 1024.0 };
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss();

    let basic = format!(
        "Authorization: Basic {}\r\n",
        base64_encode(format!("bench:{secret}").as_bytes())
    );
    let ignore = |_: &[u8]| {};
    let mut figures = vec![
        load(
            "discovery",
            &args,
            args.connections,
            200,
            |_| Some(get("/.well-known/openid-configuration", "")),
            ignore,
        ),
        load(
            "jwks",
            &args,
            args.connections,
            200,
            |_| Some(get("/jwks", "")),
            ignore,
        ),
        load(
            "client_credentials",
            &args,
            args.connections,
            200,
            |_| Some(post("/token", "grant_type=client_credentials", &basic)),
            ignore,
        ),
    ];
    let loaded = rss();

    // A logged-in browser session, then codes from /authorize with that session.
    let mut conn = connect(args.port)?;
    let (_, headers, _) =
        exchange(&mut conn, &get("/login", "")).map_err(|e| format!("the login form: {e}"))?;
    let csrf_cookie = cookie_value(&headers, "idp_csrf").ok_or("no csrf cookie")?;
    let (_, _, body) = exchange(
        &mut conn,
        &get("/login", &format!("idp_csrf={csrf_cookie}")),
    )?;
    let csrf = input_value(&String::from_utf8_lossy(&body), "csrf").ok_or("no csrf token")?;
    let (status, headers, _) = exchange(
        &mut conn,
        &post(
            "/login",
            &format!("csrf={csrf}&identifier=bench.user&password=Babou45%2B"),
            &format!("Cookie: idp_csrf={csrf_cookie}\r\n"),
        ),
    )?;
    let mut session = cookie_value(&headers, "idp_session");
    if let (None, Some(flow)) = (&session, cookie_value(&headers, "idp_flow")) {
        // The account's first login: through the wizard's steps once.
        let cookies = format!("idp_csrf={csrf_cookie}; idp_flow={flow}");
        for _ in 0..5 {
            let (_, _, page) = exchange(&mut conn, &get("/wizard", &cookies))?;
            let token =
                input_value(&String::from_utf8_lossy(&page), "csrf").ok_or("no wizard form")?;
            let (_, h, _) = exchange(
                &mut conn,
                &post(
                    "/wizard",
                    &format!("csrf={token}&action=next"),
                    &format!("Cookie: {cookies}\r\n"),
                ),
            )?;
            session = cookie_value(&h, "idp_session");
            if session.is_some() {
                break;
            }
        }
    }
    let session = session.ok_or(format!("login failed: {status}"))?;
    let authorize = get(
        &format!(
            "/authorize?response_type=code&client_id=bench&redirect_uri={REDIRECT}&scope=openid%20offline_access"
        ),
        &format!("idp_session={session}"),
    );
    figures.push(load(
        "authorize (SSO, issues a code)",
        &args,
        args.connections,
        303,
        |_| Some(authorize.clone()),
        ignore,
    ));
    let fresh_codes = |wanted: usize| -> BenchResult<Vec<String>> {
        let mut c = connect(args.port)?;
        let mut codes = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let (_, h, _) = exchange(&mut c, &authorize)?;
            if let Some(code) = location(&h).and_then(|to| query_value(&to, "code")) {
                codes.push(code);
            }
        }
        Ok(codes)
    };
    let enough = |rps: f64| ((rps * args.seconds as f64 * 1.2) as usize).clamp(1000, 200_000);
    let codes = fresh_codes(enough(figures.last().map_or(1000.0, |f| f.rps)))?;
    let refresh_tokens = std::sync::Mutex::new(Vec::new());
    let access_token = std::sync::Mutex::new(None);
    figures.push(load(
        "authorization_code redemption",
        &args,
        args.connections,
        200,
        |i| codes.get(i).map(|code| redemption(code, &basic)),
        |body| {
            if let (Some(refresh), Ok(mut tokens)) =
                (json_field(body, "refresh_token"), refresh_tokens.lock())
            {
                tokens.push(refresh);
            }
            if let (Some(access), Ok(mut kept)) =
                (json_field(body, "access_token"), access_token.lock())
            {
                kept.get_or_insert(access);
            }
        },
    ));
    let refresh_tokens = refresh_tokens.into_inner().map_err(|_| "lock")?;
    let access = match access_token.into_inner().map_err(|_| "lock")? {
        Some(access) => access,
        // Redemption was not measured (`--only`): one code for UserInfo's token.
        None => {
            let code = fresh_codes(1)?.pop().ok_or("no code")?;
            let (_, _, body) = exchange(&mut connect(args.port)?, &redemption(&code, &basic))?;
            json_field(&body, "access_token").ok_or("no access token")?
        }
    };
    figures.push(load(
        "refresh_token grant",
        &args,
        args.connections,
        200,
        |i| refresh_tokens.get(i).map(|token| refresh(token, &basic)),
        ignore,
    ));
    let bearer = format!("Authorization: Bearer {access}\r\n");
    figures.push(load(
        "userinfo",
        &args,
        args.connections,
        200,
        |_| Some(get_with("/userinfo", &bearer)),
        ignore,
    ));
    let forgot_body = format!("csrf={csrf}&identifier=bench.user");
    let forgot_extra = format!("Cookie: idp_csrf={csrf_cookie}\r\n");
    figures.push(load(
        "reset request (answers after its floor)",
        &args,
        args.connections,
        200,
        |_| Some(post("/forgot", &forgot_body, &forgot_extra)),
        ignore,
    ));
    let login_body = format!("csrf={csrf}&identifier=bench.user&password=Babou45%2B");
    let login_extra = format!("Cookie: idp_csrf={csrf_cookie}\r\n");
    figures.push(load(
        "login POST (argon2id)",
        &args,
        args.connections,
        303,
        |_| Some(post("/login", &login_body, &login_extra)),
        ignore,
    ));
    figures.push(load_with(
        "whole login (authorize … userinfo)",
        &args,
        args.connections,
        |conn, _| whole_login(conn, &basic),
    ));
    let mut paced: Vec<PacedFigures> = Vec::new();
    let rate_of = |prefix: &str| {
        figures
            .iter()
            .find(|f| f.name.starts_with(prefix))
            .map_or(1.0, |f| f.rps)
    };
    if args.below_saturation > 0.0 {
        let share = args.below_saturation;
        let pace = |name: &str, prefix: &str| {
            (
                format!("{name} at {:.0} %", share * 100.0),
                rate_of(prefix) * share,
            )
        };
        let run = |(name, rate): (String, f64),
                   op: &(dyn Fn(&mut BufReader<TcpStream>, usize) -> BenchResult<Step> + Sync)| {
            let seconds = args.seconds_for(&name);
            load_paced(name, seconds, args.port, rate, args.connections, op)
        };
        paced.push(run(
            pace("discovery", "discovery"),
            &request_op(
                200,
                |_| Some(get("/.well-known/openid-configuration", "")),
                ignore,
            ),
        ));
        paced.push(run(
            pace("jwks", "jwks"),
            &request_op(200, |_| Some(get("/jwks", "")), ignore),
        ));
        paced.push(run(
            pace("client_credentials", "client_credentials"),
            &request_op(
                200,
                |_| Some(post("/token", "grant_type=client_credentials", &basic)),
                ignore,
            ),
        ));
        paced.push(run(
            pace("authorize (SSO)", "authorize"),
            &request_op(303, |_| Some(authorize.clone()), ignore),
        ));
        let (name, rate) = pace("code redemption", "authorization_code");
        let codes = fresh_codes((rate * args.seconds as f64 * 1.1) as usize + 10)?;
        let refresh_tokens = std::sync::Mutex::new(Vec::new());
        paced.push(run(
            (name, rate),
            &request_op(
                200,
                |i| codes.get(i).map(|code| redemption(code, &basic)),
                |body| {
                    if let (Some(refresh), Ok(mut tokens)) =
                        (json_field(body, "refresh_token"), refresh_tokens.lock())
                    {
                        tokens.push(refresh);
                    }
                },
            ),
        ));
        let refresh_tokens = refresh_tokens.into_inner().map_err(|_| "lock")?;
        let (name, rate) = pace("refresh_token", "refresh_token");
        paced.push(run(
            (
                name,
                rate.min(refresh_tokens.len() as f64 / args.seconds as f64),
            ),
            &request_op(
                200,
                |i| refresh_tokens.get(i).map(|token| refresh(token, &basic)),
                ignore,
            ),
        ));
        paced.push(run(
            pace("userinfo", "userinfo"),
            &request_op(200, |_| Some(get_with("/userinfo", &bearer)), ignore),
        ));
        paced.push(run(
            pace("login POST", "login POST"),
            &request_op(
                303,
                |_| Some(post("/login", &login_body, &login_extra)),
                ignore,
            ),
        ));
        paced.push(run(
            pace("whole login", "whole login"),
            &|conn: &mut BufReader<TcpStream>, _| whole_login(conn, &basic),
        ));
    }
    if args.overload_seconds > 0 {
        let sustainable = rate_of("login POST");
        let beside = Args {
            seconds: args.overload_seconds.saturating_sub(4).max(1),
            ..args.clone()
        };
        let during: Vec<Figures> = std::thread::scope(|scope| {
            let flood = scope.spawn(|| {
                load_paced(
                    format!(
                        "overload: logins at {:.1}x {sustainable:.0}/s",
                        args.overload_factor
                    ),
                    args.overload_seconds,
                    args.port,
                    sustainable * args.overload_factor,
                    2048,
                    |conn, _| {
                        let (status, _, _) =
                            exchange(conn, &post("/login", &login_body, &login_extra))?;
                        Ok(match status {
                            303 => Step::Done,
                            503 => Step::Refused,
                            _ => return Err(format!("a login answered {status}").into()),
                        })
                    },
                )
            });
            // Let the line form before measuring the others.
            std::thread::sleep(Duration::from_secs(2));

            let others = [
                scope.spawn(|| {
                    load(
                        "  meanwhile: discovery",
                        &beside,
                        4,
                        200,
                        |_| Some(get("/.well-known/openid-configuration", "")),
                        ignore,
                    )
                }),
                scope.spawn(|| {
                    load(
                        "  meanwhile: client_credentials",
                        &beside,
                        4,
                        200,
                        |_| Some(post("/token", "grant_type=client_credentials", &basic)),
                        ignore,
                    )
                }),
                scope.spawn(|| {
                    load(
                        "  meanwhile: userinfo",
                        &beside,
                        4,
                        200,
                        |_| Some(get_with("/userinfo", &bearer)),
                        ignore,
                    )
                }),
            ];
            if let Ok(f) = flood.join() {
                paced.push(f);
            }
            others.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        figures.extend(during);
    }
    let after_login = rss();
    drop(_balancer);
    drop(servers);

    // Raw argon2id with the same (default, OWASP) parameters, one thread per core.
    let hasher =
        idp::crypto::password::PasswordHasher::new(idp::crypto::password::Argon2Params::default())?;
    let hash = hasher.hash("Babou45+")?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let total: usize = std::thread::scope(|s| {
        (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let _ = hasher.verify("Babou45+", Some(&hash));
                        n += 1;
                    }
                    n
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|h| h.join().ok())
            .sum()
    });
    let argon_rate = total as f64 / args.seconds as f64;

    println!(
        "idp-bench: {} connections, {} s per scenario, {}, {} instance(s){}, keep-alive",
        args.connections,
        args.seconds,
        database.backend(),
        ports.len(),
        if ports.len() > 1 { " behind nginx" } else { "" }
    );
    println!(
        "{:<40} {:>10} {:>9} {:>7}",
        "scenario", "req/s", "p99 ms", "errors"
    );
    for f in figures.iter().filter(|f| args.selected(f.name)) {
        println!(
            "{:<40} {:>10.0} {:>9.2} {:>7}",
            f.name, f.rps, f.p99_ms, f.errors
        );
    }
    if !paced.is_empty() {
        println!(
            "open loop (p99 from when each request was due; and from when it was sent)\n{:<40} {:>10} {:>10} {:>9} {:>9} {:>10} {:>16} {:>8}",
            "scenario",
            "offered/s",
            "served/s",
            "p99 ms",
            "sent→ms",
            "refused/s",
            "refused p50/p99",
            "failed/s"
        );
        for f in paced.iter().filter(|f| args.selected(&f.name)) {
            println!(
                "{:<40} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>10.1} {:>16} {:>8.1}",
                f.name,
                f.offered,
                f.done,
                f.p99_ms,
                f.served_p99_ms,
                f.refused,
                format!("{:.1}/{:.0}", f.refused_p50_ms, f.refused_p99_ms),
                f.failed
            );
        }
    }
    println!(
        "{:<40} {:>10.1}",
        "raw argon2id verifications/s", argon_rate
    );
    for name in ["login POST", "whole login"] {
        if let Some(login) = figures.iter().find(|f| f.name.starts_with(name)) {
            println!(
                "{name} / raw argon2id: {:.0} %",
                100.0 * login.rps / argon_rate
            );
        }
    }
    println!(
        "server resident memory (all instances): idle {idle:.1} MB, under discovery/JWKS/grant load {loaded:.1} MB, after the login load {after_login:.1} MB (holds one argon2 area of m_cost per core)"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn cookie_value(headers: &str, name: &str) -> Option<String> {
    headers
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .find_map(|l| {
            let v = l.split_once(':')?.1.trim();
            let (n, rest) = v.split_once('=')?;
            (n == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
        })
}

fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
