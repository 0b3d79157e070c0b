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

#[derive(Parser)]
struct Args {
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Port for the server under test.
    #[arg(long, default_value_t = 18_080)]
    port: u16,
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

fn post(path: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Figures {
    name: &'static str,
    rps: f64,
    p99_ms: f64,
    errors: usize,
}

/// Runs `make_request(i)` on every connection for `seconds`; each request must answer `expect`.
fn load(
    name: &'static str,
    args: &Args,
    connections: usize,
    expect: u16,
    make_request: impl Fn(usize) -> Option<Vec<u8>> + Sync,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                let make_request = &make_request;
                let counter = &counter;
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    let mut errors = 0;
                    let Ok(mut conn) = connect(args.port) else {
                        return (lat, 1);
                    };
                    while Instant::now() < deadline {
                        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(req) = make_request(i) else { break };
                        let start = Instant::now();
                        match exchange(&mut conn, &req) {
                            Ok((status, _, _)) if status == expect => lat.push(start.elapsed()),
                            Ok(_) => errors += 1,
                            Err(_) => {
                                errors += 1;
                                match connect(args.port) {
                                    Ok(c) => conn = c,
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut all: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let errors = results.iter().map(|r| r.1).sum();
    all.sort();
    let p99 = all
        .get(all.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    Figures {
        name,
        rps: all.len() as f64 / args.seconds as f64,
        p99_ms: p99.as_secs_f64() * 1000.0,
        errors,
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

fn main() -> BenchResult<()> {
    let args = Args::parse();
    let exe = std::env::current_exe()?.with_file_name("idp");
    let dir = std::env::temp_dir().join(format!("idp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let issuer = format!("http://127.0.0.1:{}", args.port);
    let idp = |a: &[&str]| {
        let mut c = Command::new(&exe);
        c.args(a)
            .env(
                "IDP_DATABASE_URL",
                format!("sqlite://{}/idp.db", dir.display()),
            )
            .env("IDP_ISSUER", &issuer)
            .env("IDP_LISTEN", format!("127.0.0.1:{}", args.port))
            .env("IDP_LOG", "warn");
        c
    };
    let secret = "bench-client-secret-0123456789abcdefghijkl";
    let ok = idp(&[
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
        "client_credentials",
    ])
    .stdout(Stdio::null())
    .status()?;
    let ok2 = idp(&[
        "user",
        "create",
        "--username",
        "bench.user",
        "--password",
        "Babou45+",
    ])
    .stdout(Stdio::null())
    .status()?;
    if !ok.success() || !ok2.success() {
        return Err("setting up the bench database failed (build with --release first)".into());
    }
    let server = Server(idp(&["serve"]).stdout(Stdio::null()).spawn()?);
    let pid = server.0.id();
    for _ in 0..100 {
        if connect(args.port).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(pid);

    let basic = format!(
        "Authorization: Basic {}\r\n",
        base64_encode(format!("bench:{secret}").as_bytes())
    );
    let mut figures = vec![
        load("discovery", &args, args.connections, 200, |_| {
            Some(get("/.well-known/openid-configuration", ""))
        }),
        load("jwks", &args, args.connections, 200, |_| {
            Some(get("/jwks", ""))
        }),
        load("client_credentials", &args, args.connections, 200, |_| {
            Some(post("/token", "grant_type=client_credentials", &basic))
        }),
    ];
    let loaded = rss_kib(pid);

    // A logged-in browser session, then codes from /authorize with that session.
    let mut conn = connect(args.port)?;
    let (_, headers, _) = exchange(&mut conn, &get("/login", ""))?;
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
        "/authorize?response_type=code&client_id=bench&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid",
        &format!("idp_session={session}"),
    );
    let codes = std::sync::Mutex::new(Vec::new());
    figures.push(load(
        "authorize (SSO, issues a code)",
        &args,
        args.connections,
        303,
        |_| Some(authorize.clone()),
    ));
    {
        // Collect fresh codes for the redemption run.
        let mut c = connect(args.port)?;
        let mut v = codes.lock().map_err(|_| "lock")?;
        let wanted =
            (figures.last().map_or(1000.0, |f| f.rps) * args.seconds as f64 * 1.2) as usize;
        for _ in 0..wanted.clamp(1000, 200_000) {
            let (_, h, _) = exchange(&mut c, &authorize)?;
            if let Some(code) = h.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("location:")
                    .then(|| {
                        l.split("code=")
                            .nth(1)
                            .map(|r| r.split('&').next().unwrap_or("").to_owned())
                    })
                    .flatten()
            }) {
                v.push(code);
            }
        }
    }
    let codes = codes.into_inner().map_err(|_| "lock")?;
    figures.push(load("authorization_code redemption", &args, args.connections, 200, |i| {
        codes.get(i).map(|code| post("/token", &format!("grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"), &basic))
    }));
    let login_body = format!("csrf={csrf}&identifier=bench.user&password=Babou45%2B");
    let login_extra = format!("Cookie: idp_csrf={csrf_cookie}\r\n");
    figures.push(load(
        "login POST (argon2id)",
        &args,
        args.connections,
        303,
        |_| Some(post("/login", &login_body, &login_extra)),
    ));
    let after_login = rss_kib(pid);
    drop(server);

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
        "idp-bench: {} connections, {} s per scenario, SQLite, keep-alive",
        args.connections, args.seconds
    );
    println!(
        "{:<34} {:>10} {:>9} {:>7}",
        "scenario", "req/s", "p99 ms", "errors"
    );
    for f in &figures {
        println!(
            "{:<34} {:>10.0} {:>9.2} {:>7}",
            f.name, f.rps, f.p99_ms, f.errors
        );
    }
    println!(
        "{:<34} {:>10.1}",
        "raw argon2id verifications/s", argon_rate
    );
    if let Some(login) = figures.iter().find(|f| f.name.starts_with("login")) {
        println!(
            "login throughput / raw argon2id: {:.0} %",
            100.0 * login.rps / argon_rate
        );
    }
    println!(
        "server resident memory: idle {:.1} MB, under discovery/JWKS/grant load {:.1} MB, after the login load {:.1} MB (holds one argon2 area of m_cost per core)",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0,
        after_login as f64 / 1024.0
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
