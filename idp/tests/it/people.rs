//! The people behind accounts: kinds, schools of organising bodies, profile data, and the
//! `school` scope that hands them to relying apps.

use base64::Engine;
use idp::domain::schools::{self, DataChanges, NewSchool};
use idp::domain::types::AccountKind;
use idp::domain::users;

use crate::both_backends;
use crate::support::*;

fn payload(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn school_scope_claims(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (body, school) = {
        let mut conn = server.idp.conn().unwrap();
        let now = server.idp.now();
        let body = schools::create_body(&mut conn, "Ville de Namur", now).unwrap();
        let school = schools::create_school(
            &mut conn,
            NewSchool {
                organising_body: body.id,
                name: "École du Centre",
                data_changes: DataChanges::Request,
                contact: Some("secretariat@ecole.example"),
            },
            now,
        )
        .unwrap();
        let user = users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        users::set_kind(&mut conn, user.id, AccountKind::Guardian, now).unwrap();
        schools::join(&mut conn, user.id, school.id, now).unwrap();
        schools::join(&mut conn, user.id, school.id, now).unwrap();
        (body, school)
    };
    let url = format!(
        "{}?response_type=code&client_id=school-app&redirect_uri={}&scope=openid%20school&state=s&nonce=n",
        server.url("/authorize"),
        urlencode(REDIRECT)
    );
    let back = login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    let (status, tokens) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["account_kind"], "guardian");
    assert_eq!(
        claims["schools"],
        serde_json::json!([{"id": school.id, "name": "École du Centre", "organising_body": body.id}])
    );
    assert_eq!(
        claims["organising_bodies"],
        serde_json::json!([{"id": body.id, "name": "Ville de Namur"}])
    );
    assert!(
        claims.get("preferred_username").is_none(),
        "profile was not asked for"
    );

    let info: serde_json::Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["schools"], claims["schools"]);
    assert_eq!(info["account_kind"], "guardian");

    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"school".into())
    );
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"schools".into())
    );
}
both_backends!(school_scope_claims);
