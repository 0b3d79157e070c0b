//! What apps learn about a person, by scope (OIDC Core §5.4): the stored profile through
//! the `openidconnect` relying party, in the ID token and from UserInfo.

use idp::domain::users::{self, Contact, Profile};
use openidconnect::OAuth2TokenResponse;

use crate::both_backends;
use crate::support::*;

/// `profile` brings `birthdate` and `gender`, `address` the structured address, `phone`
/// `phone_number_verified`; without `address`, no address.
async fn the_stored_profile_by_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pupil = add_user(&server, "lea.martin", None, "fr");
    {
        let mut conn = server.idp.conn().unwrap();
        let now = server.idp.now();
        let profile = Profile {
            birth_date: chrono::NaiveDate::from_ymd_opt(2014, 3, 9),
            street_address: Some("Rue de l'École 4".into()),
            postal_code: Some("5000".into()),
            locality: Some("Namur".into()),
            country: Some("BE".into()),
            nationality: None,
            sex: Some("F".into()),
        };
        users::set_profile(&mut conn, pupil.id, &profile, now).unwrap();
        let contact = Contact {
            given_name: Some("Léa".into()),
            family_name: Some("Martin".into()),
            email: None,
            phone_number: Some("+32 81 00 00 00".into()),
        };
        users::set_contact(&mut conn, pupil.id, &contact, now).unwrap();
    }
    let (rp, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let log_in = |scopes: &'static [&'static str]| {
        let (rp, http) = (rp.clone(), http.clone());
        let server = &server;
        async move {
            let request = rp_request(&rp, scopes);
            let back = login_through(
                &browser(),
                server,
                &request.url,
                "lea.martin",
                "Zebre-Orange-91",
            )
            .await;
            let code = query_param(&back, "code").unwrap();
            rp_redeem(&rp, &http, code, request).await
        }
    };

    let (tokens, claims) = log_in(&["profile", "address", "phone"]).await;
    assert_eq!(claims.birthdate().map(|b| b.as_str()), Some("2014-03-09"));
    assert_eq!(claims.gender().map(|g| g.as_str()), Some("female"));
    let address = claims.address().expect("an address");
    assert_eq!(
        address.street_address.as_ref().map(|s| s.as_str()),
        Some("Rue de l'École 4")
    );
    assert_eq!(
        address.postal_code.as_ref().map(|s| s.as_str()),
        Some("5000")
    );
    assert_eq!(address.locality.as_ref().map(|s| s.as_str()), Some("Namur"));
    assert_eq!(address.country.as_ref().map(|s| s.as_str()), Some("BE"));
    assert_eq!(
        claims.phone_number().map(|p| p.as_str()),
        Some("+32 81 00 00 00")
    );
    assert_eq!(claims.phone_number_verified(), Some(false));
    let info: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.birthdate().map(|b| b.as_str()), Some("2014-03-09"));
    assert!(info.address().is_some());

    let (_, claims) = log_in(&["profile"]).await;
    assert!(claims.address().is_none(), "no address scope, no address");
    assert!(claims.phone_number().is_none());
    assert_eq!(claims.gender().map(|g| g.as_str()), Some("female"));

    // The school keeps the birth date and the phone number back from this application.
    {
        let mut conn = server.idp.conn().unwrap();
        let keep = ["birthdate".to_string(), "phone_number".to_string()];
        idp::domain::clients::set_withheld_claims(&mut conn, "school-app", &keep).unwrap();
        let protocol = ["sub".to_string()];
        assert!(
            idp::domain::clients::set_withheld_claims(&mut conn, "school-app", &protocol).is_err()
        );
    }
    let (tokens, claims) = log_in(&["profile", "address", "phone"]).await;
    assert!(claims.birthdate().is_none() && claims.phone_number().is_none());
    assert!(claims.phone_number_verified().is_none());
    assert!(claims.address().is_some() && claims.gender().is_some());
    let info: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.birthdate().is_none() && info.phone_number().is_none());
    assert!(info.address().is_some());
}
both_backends!(the_stored_profile_by_scope);

/// Every ID token says how strong its login was (`acr`); an application asking for another
/// class with `acr_values` gets a fresh login rather than the SSO session, and values the
/// STS does not issue are passed over.
async fn acr_always_and_acr_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (rp, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let browser = browser();
    let request = rp_request(&rp, &[]);
    let back = login_through(&browser, &server, &request.url, USERNAME, PASSWORD).await;
    let (_, claims) = rp_redeem(&rp, &http, query_param(&back, "code").unwrap(), request).await;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:idp:acr:password")
    );
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["urn:idp:acr:password", "urn:idp:acr:upstream"])
    );

    // The session answers a request for its own class, or for classes unknown here…
    for acr_values in ["urn:idp:acr:password", "urn:other:loa:2"] {
        let request = rp_request(&rp, &[]);
        let url = format!("{}&acr_values={}", request.url, urlencode(acr_values));
        let resp = browser.get(&url).send().await.unwrap();
        assert!(location(&resp).starts_with(REDIRECT), "{acr_values}");
    }
    // …but not one for an upstream login: the person logs in again.
    let request = rp_request(&rp, &[]);
    let url = format!(
        "{}&acr_values={}",
        request.url,
        urlencode("urn:idp:acr:upstream")
    );
    let resp = browser.get(&url).send().await.unwrap();
    assert!(location(&resp).starts_with("/login?request="));
}
both_backends!(acr_always_and_acr_values);

/// `login_hint` fills the identifier on the login page; `claims_locales` is accepted.
async fn login_hint_and_claims_locales(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = authorize_url(
        &server,
        "openid",
        "&state=st&login_hint=jean.dupont&claims_locales=nl%20fr",
    );
    let browser = browser();
    let resp = browser.get(&url).send().await.unwrap();
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");
    let page = browser.get(server.url(&login)).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert_eq!(input_value(&page, "identifier"), "jean.dupont");
}
both_backends!(login_hint_and_claims_locales);

/// The `claims` parameter (OIDC Core §5.5): single claims for the ID token or UserInfo
/// without their scope, never past the client's registered scopes; `acr` asked there
/// counts as `acr_values`; a malformed parameter is the client's error.
async fn the_claims_parameter(backend: Backend) {
    let server = TestServer::start(backend).await;
    {
        let mut conn = server.idp.conn().unwrap();
        let jean = users::find_by_username(&mut conn, USERNAME)
            .unwrap()
            .unwrap();
        let profile = Profile {
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 2),
            street_address: Some("Rue Haute 1".into()),
            ..Profile::default()
        };
        users::set_profile(&mut conn, jean.id, &profile, server.idp.now()).unwrap();
    }
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["claims_parameter_supported"], true);
    let (rp, http) = relying_party(&server, "school-app", Some(SECRET)).await;
    let asked = r#"{"id_token": {"email": {"essential": true}}, "userinfo": {"birthdate": null, "address": null}}"#;
    let request = rp_request(&rp, &[]);
    let url = format!("{}&claims={}", request.url, urlencode(asked));
    let back = login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let (tokens, claims) =
        rp_redeem(&rp, &http, query_param(&back, "code").unwrap(), request).await;
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("jean.dupont@hotmail.com")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.birthdate().is_none(), "asked for UserInfo only");
    assert!(claims.preferred_username().is_none(), "no profile scope");
    let info: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.birthdate().map(|b| b.as_str()), Some("1980-01-02"));
    assert!(info.address().is_some());
    assert!(info.email().is_none(), "asked for the ID token only");

    // A client registered for openid alone gets nothing more by asking.
    {
        use idp::domain::clients::{self, AuthMethod, GrantType, NewClient};
        use idp::domain::types::{ClientId, RedirectUri, SigningAlg};
        let mut conn = server.idp.conn().unwrap();
        let narrow = NewClient {
            id: ClientId::parse("narrow-app").unwrap(),
            name: "Narrow".into(),
            secret: Some(SECRET.into()),
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: None,
        };
        clients::create(&mut conn, narrow, server.idp.now()).unwrap();
    }
    let (narrow, http) = relying_party(&server, "narrow-app", Some(SECRET)).await;
    let request = rp_request(&narrow, &[]);
    let url = format!(
        "{}&claims={}",
        request.url,
        urlencode(r#"{"id_token": {"email": null, "birthdate": null}}"#)
    );
    let back = login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let (_, claims) = rp_redeem(&narrow, &http, query_param(&back, "code").unwrap(), request).await;
    assert!(claims.email().is_none() && claims.birthdate().is_none());

    // acr through claims; a malformed parameter.
    let browser = browser();
    let request = rp_request(&rp, &[]);
    let back = login_through(&browser, &server, &request.url, USERNAME, PASSWORD).await;
    assert!(back.starts_with(REDIRECT));
    let upstream_only =
        r#"{"id_token": {"acr": {"essential": true, "values": ["urn:idp:acr:upstream"]}}}"#;
    let request = rp_request(&rp, &[]);
    let url = format!("{}&claims={}", request.url, urlencode(upstream_only));
    let resp = browser.get(&url).send().await.unwrap();
    assert!(
        location(&resp).starts_with("/login?request="),
        "the password session does not answer"
    );
    let request = rp_request(&rp, &[]);
    let url = format!("{}&claims={}", request.url, urlencode("[1]"));
    let resp = browser.get(&url).send().await.unwrap();
    let to = location(&resp);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
}
both_backends!(the_claims_parameter);
