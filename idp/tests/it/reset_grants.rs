//! Reset grants: single use, revoked by a newer request, 48 hours, findable by link or code.

use chrono::Duration;
use idp::domain::resets::{self, Unusable};
use idp::domain::users;

use crate::both_backends;
use crate::support::*;

async fn reset_grants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let now = || server.idp.now();
    let mut conn = server.idp.conn().unwrap();
    let user = users::find_by_username(&mut conn, USERNAME)
        .unwrap()
        .unwrap();
    let ttl = Duration::hours(48);

    let first = resets::issue(
        &mut conn,
        user.id,
        resets::Purpose::Reset,
        Some("pending-login"),
        ttl,
        now(),
    )
    .unwrap();
    // Looking up (as a GET of the link, or a mail scanner) does not use it, however often.
    for _ in 0..3 {
        let found = resets::find_by_token(&mut conn, &first.token, now())
            .unwrap()
            .unwrap();
        assert_eq!(found.user_id, user.id);
        assert_eq!(found.resume_request.as_deref(), Some("pending-login"));
    }
    // The code works typed loosely, for this account only.
    let loose = first.code.to_lowercase().replace('-', " ");
    assert!(
        resets::find_by_code(&mut conn, user.id, &loose, now())
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        resets::find_by_code(&mut conn, user.id, "AAAA-AAAA", now())
            .unwrap()
            .unwrap_err()
            .why,
        Unusable::Unknown
    );

    // A new request revokes the older one.
    let second =
        resets::issue(&mut conn, user.id, resets::Purpose::Reset, None, ttl, now()).unwrap();
    assert_eq!(
        resets::find_by_token(&mut conn, &first.token, now())
            .unwrap()
            .unwrap_err()
            .why,
        Unusable::Revoked
    );
    assert_eq!(
        resets::find_by_code(&mut conn, user.id, &first.code, now())
            .unwrap()
            .unwrap_err()
            .why,
        Unusable::Revoked
    );

    // A link that no longer works still names the login it was asked for.
    let revoked = resets::find_by_token(&mut conn, &first.token, now()).unwrap();
    assert_eq!(
        revoked.unwrap_err().resume_request.as_deref(),
        Some("pending-login")
    );

    // Single use.
    let reset = resets::find_by_token(&mut conn, &second.token, now())
        .unwrap()
        .unwrap();
    resets::consume(&mut conn, &reset, now()).unwrap();
    assert!(resets::consume(&mut conn, &reset, now()).is_err());
    assert_eq!(
        resets::find_by_token(&mut conn, &second.token, now())
            .unwrap()
            .unwrap_err()
            .why,
        Unusable::Used
    );

    // 48 hours, then expired.
    let third =
        resets::issue(&mut conn, user.id, resets::Purpose::Reset, None, ttl, now()).unwrap();
    server.clock.advance(Duration::hours(47));
    assert!(
        resets::find_by_token(&mut conn, &third.token, now())
            .unwrap()
            .is_ok()
    );
    server.clock.advance(Duration::hours(2));
    let expired = resets::find_by_token(&mut conn, &third.token, now()).unwrap();
    assert_eq!(expired.unwrap_err().why, Unusable::Expired);
    assert_eq!(
        resets::find_by_token(&mut conn, "no-such-token", now())
            .unwrap()
            .unwrap_err()
            .why,
        Unusable::Unknown
    );
}
both_backends!(reset_grants);

/// Two instances submitting the same link at once: exactly one wins.
async fn reset_consumed_once_under_race(backend: Backend) {
    let server = TestServer::start(backend).await;
    let idp = &server.idp;
    let user = {
        let mut conn = idp.conn().unwrap();
        users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap()
    };
    let issued = {
        let mut conn = idp.conn().unwrap();
        resets::issue(
            &mut conn,
            user.id,
            resets::Purpose::Reset,
            None,
            Duration::hours(48),
            idp.now(),
        )
        .unwrap()
    };
    let wins: usize = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = idp.conn().unwrap();
                    let reset = resets::find_by_token(&mut conn, &issued.token, idp.now()).unwrap();
                    match reset {
                        Ok(r) => usize::from(resets::consume(&mut conn, &r, idp.now()).is_ok()),
                        Err(_) => 0,
                    }
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
}
both_backends!(reset_consumed_once_under_race);
