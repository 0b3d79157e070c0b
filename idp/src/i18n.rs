//! Every user-facing text goes through Fluent bundles (`templates/locales/*.ftl`). French is
//! the default; the language is chosen from `ui_locales` (OIDC Core §3.1.2.1), then the
//! browser's `Accept-Language`, then the configured default.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use unic_langid::LanguageIdentifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    Fr,
    Nl,
    En,
    De,
}

impl Locale {
    pub const ALL: [Locale; 4] = [Self::Fr, Self::Nl, Self::En, Self::De];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::Nl => "nl",
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// The language's name in itself, as the language switch shows it.
    pub fn own_name(self) -> &'static str {
        match self {
            Self::Fr => "Français",
            Self::Nl => "Nederlands",
            Self::En => "English",
            Self::De => "Deutsch",
        }
    }

    /// Accepts a BCP 47 tag (`fr`, `nl-BE`, `EN-gb`) by its primary language.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.as_str() == primary)
    }

    /// How readers of this language write a moment: the day first, a 24-hour clock, no
    /// zone (it is the organising body's), e.g. "23/11/2026 à 19:55".
    fn datetime_pattern(self) -> &'static str {
        match self {
            Self::Fr => "%d/%m/%Y à %H:%M",
            Self::Nl => "%d/%m/%Y om %H:%M",
            Self::En => "%d/%m/%Y at %H:%M",
            Self::De => "%d.%m.%Y um %H:%M Uhr",
        }
    }

    fn date_pattern(self) -> &'static str {
        match self {
            Self::De => "%d.%m.%Y",
            Self::Fr | Self::Nl | Self::En => "%d/%m/%Y",
        }
    }

    /// `when` as readers of this language write it, in the organising body's time `zone`.
    pub fn format_datetime(self, when: DateTime<Utc>, zone: &Zone) -> String {
        when.with_timezone(&zone.offset_at(when))
            .format(self.datetime_pattern())
            .to_string()
    }

    /// A calendar date (a birth date) as readers of this language write it.
    pub fn format_date(self, date: NaiveDate) -> String {
        date.format(self.date_pattern()).to_string()
    }

    fn source(self) -> &'static str {
        match self {
            Self::Fr => include_str!("../../templates/locales/fr.ftl"),
            Self::Nl => include_str!("../../templates/locales/nl.ftl"),
            Self::En => include_str!("../../templates/locales/en.ftl"),
            Self::De => include_str!("../../templates/locales/de.ftl"),
        }
    }
}

/// What a request tells of the language its person reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wishes<'a> {
    /// Chosen on the pages' language switch (its cookie).
    pub chosen: Option<Locale>,
    /// The application's `ui_locales` (OIDC Core §3.1.2.1), space-separated.
    pub ui_locales: Option<&'a str>,
    /// The language saved on the account of the person logged in.
    pub account: Option<Locale>,
    /// The browser's `Accept-Language`.
    pub accept_language: Option<&'a str>,
}

/// Picks the page language: the switch's choice, else the first supported of
/// `ui_locales` (names we lack are passed over), else the account's language, else the
/// best of `Accept-Language` by weight, else `default`.
pub fn negotiate(wishes: Wishes<'_>, default: Locale) -> Locale {
    let Wishes {
        chosen,
        ui_locales,
        account,
        accept_language,
    } = wishes;
    if let Some(chosen) = chosen {
        return chosen;
    }
    if let Some(found) = ui_locales
        .into_iter()
        .flat_map(str::split_whitespace)
        .find_map(Locale::parse)
    {
        return found;
    }
    if let Some(account) = account {
        return account;
    }
    let mut weighted: Vec<(f32, usize, Locale)> = accept_language
        .into_iter()
        .flat_map(|h| h.split(','))
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let locale = Locale::parse(pieces.next()?)?;
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, locale))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    weighted.first().map_or(default, |w| w.2)
}

/// The `t` handlebars helper: `{{t "key" name=value}}` in the language of `@root.lang`.
/// Escapes for HTML, or not (plain-text mail and subjects).
pub struct TranslateHelper {
    translations: std::sync::Arc<Translations>,
    escape: bool,
}

impl TranslateHelper {
    pub fn html(translations: std::sync::Arc<Translations>) -> Self {
        Self {
            translations,
            escape: true,
        }
    }
    pub fn plain(translations: std::sync::Arc<Translations>) -> Self {
        Self {
            translations,
            escape: false,
        }
    }
}

impl handlebars::HelperDef for TranslateHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg handlebars::Handlebars<'reg>,
        ctx: &'rc handlebars::Context,
        _: &mut handlebars::RenderContext<'reg, 'rc>,
        out: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        let key = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or(handlebars::RenderErrorReason::ParamNotFoundForIndex("t", 0))?;
        let locale = root_locale(ctx);
        let mut args = FluentArgs::new();
        for (name, value) in h.hash() {
            let text = match value.value() {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            args.set(*name, text);
        }
        let text = self.translations.get(locale, key, Some(&args));
        if self.escape {
            out.write(&handlebars::html_escape(&text))?;
        } else {
            out.write(&text)?;
        }
        Ok(())
    }
}

/// The organising body's time zone, an IANA name read from the system's time-zone
/// database (`/usr/share/zoneinfo`; Debian's `tzdata` is always installed), so new
/// daylight-saving rules arrive with the system's updates, not with a rebuild.
#[derive(Clone)]
pub struct Zone {
    name: String,
    rules: std::sync::Arc<tz::TimeZone>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Zone {
    /// The zone `name` (`Europe/Brussels`), or why it cannot be had.
    pub fn load(name: &str) -> Result<Self, String> {
        let plausible = !name.is_empty()
            && !name.starts_with('/')
            && !name.contains("..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
        if !plausible {
            return Err(format!(
                "{name:?} is not an IANA time-zone name like Europe/Brussels"
            ));
        }
        // The ':' form reads the database only, never a POSIX rule a typo might make.
        let rules = tz::TimeZone::from_posix_tz(&format!(":{name}")).map_err(|e| {
            format!("{name}: not in the system's time-zone database (install tzdata): {e}")
        })?;
        Ok(Self {
            name: name.to_owned(),
            rules: std::sync::Arc::new(rules),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at `when` (daylight-saving time included); UTC for a
    /// moment the database has no rule for.
    pub fn offset_at(&self, when: DateTime<Utc>) -> FixedOffset {
        self.rules
            .find_local_time_type(when.timestamp())
            .ok()
            .and_then(|t| FixedOffset::east_opt(t.ut_offset()))
            .unwrap_or_else(|| Utc.fix())
    }

    /// The moment `day` begins in the zone (a period chosen on the screens, in days).
    pub fn start_of(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
        // The offset at the UTC midnight of that day: daylight-saving time never changes
        // at midnight here, so it is the offset of the local midnight as well.
        midnight - chrono::Duration::seconds(i64::from(self.offset_at(midnight).local_minus_utc()))
    }

    /// The calendar day it is in the zone at `when` (a migration period's dates).
    pub fn date_at(&self, when: DateTime<Utc>) -> chrono::NaiveDate {
        when.with_timezone(&self.offset_at(when)).date_naive()
    }
}

/// The language of the data being rendered (`@root.lang`), French when it has none.
fn root_locale(ctx: &handlebars::Context) -> Locale {
    ctx.data()
        .get("lang")
        .and_then(|v| v.as_str())
        .and_then(Locale::parse)
        .unwrap_or(Locale::Fr)
}

/// The `datetime` handlebars helper: `{{datetime when}}`, or `(datetime when)` inside `t`,
/// shows an RFC 3339 moment in the organising body's time zone, as readers of `@root.lang`
/// write it. The domain hands over moments, never texts, so mails and pages agree.
pub struct DateTimeHelper {
    zone: Zone,
}

impl DateTimeHelper {
    pub fn new(zone: Zone) -> Self {
        Self { zone }
    }
}

impl handlebars::HelperDef for DateTimeHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg handlebars::Handlebars<'reg>,
        ctx: &'rc handlebars::Context,
        _: &mut handlebars::RenderContext<'reg, 'rc>,
    ) -> Result<handlebars::ScopedJson<'rc>, handlebars::RenderError> {
        let when = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or(handlebars::RenderErrorReason::InvalidParamType(
                "an RFC 3339 date and time",
            ))?;
        let text = root_locale(ctx).format_datetime(when.with_timezone(&Utc), &self.zone);
        Ok(handlebars::ScopedJson::Derived(serde_json::Value::String(
            text,
        )))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("translations for {locale}: {message}")]
pub struct I18nError {
    locale: &'static str,
    message: String,
}

pub struct Translations {
    bundles: HashMap<Locale, FluentBundle<FluentResource>>,
}

impl Translations {
    pub fn load() -> Result<Self, I18nError> {
        let mut bundles = HashMap::new();
        for locale in Locale::ALL {
            let err = |message: String| I18nError {
                locale: locale.as_str(),
                message,
            };
            let resource = FluentResource::try_new(locale.source().to_owned())
                .map_err(|(_, errors)| err(format!("{errors:?}")))?;
            let lang: LanguageIdentifier =
                locale.as_str().parse().map_err(|e| err(format!("{e:?}")))?;
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // Pages are HTML: Unicode isolation marks around arguments would show up as noise.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errors| err(format!("{errors:?}")))?;
            bundles.insert(locale, bundle);
        }
        Ok(Self { bundles })
    }

    /// The message `key` in `locale`, falling back to French, then to the key itself (so a
    /// missing translation shows up instead of failing the page).
    pub fn get(&self, locale: Locale, key: &str, args: Option<&FluentArgs>) -> String {
        for l in [locale, Locale::Fr] {
            let Some(bundle) = self.bundles.get(&l) else {
                continue;
            };
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        key.to_owned()
    }

    /// The message `key` with numeric arguments (a password rule's limits: `min`, `count`).
    pub fn with_counts(&self, locale: Locale, key: &str, counts: &[(&str, usize)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in counts {
            args.set(*name, *value);
        }
        self.get(locale, key, Some(&args))
    }

    /// Message ids of a locale, for the completeness test.
    #[cfg(test)]
    fn ids(locale: Locale) -> Vec<String> {
        locale
            .source()
            .lines()
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .filter(|id| !id.is_empty() && !id.starts_with('#') && !id.starts_with(' '))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_order() {
        let asked = |ui: Option<&'static str>, accept: Option<&'static str>| Wishes {
            ui_locales: ui,
            accept_language: accept,
            ..Wishes::default()
        };
        assert_eq!(
            negotiate(asked(Some("de nl"), Some("en")), Locale::Fr),
            Locale::De
        );
        assert_eq!(
            negotiate(asked(Some("xx"), Some("en;q=0.5, nl-BE")), Locale::Fr),
            Locale::Nl,
            "ui_locales we lack fall back to the browser's"
        );
        assert_eq!(
            negotiate(asked(None, Some("es, it")), Locale::Fr),
            Locale::Fr
        );
        assert_eq!(negotiate(asked(None, None), Locale::En), Locale::En);
        let chosen = Wishes {
            chosen: Some(Locale::Nl),
            account: Some(Locale::De),
            ..asked(Some("fr"), Some("en"))
        };
        assert_eq!(
            negotiate(chosen, Locale::Fr),
            Locale::Nl,
            "the switch first"
        );
        let account = Wishes {
            account: Some(Locale::De),
            ..asked(None, Some("en"))
        };
        assert_eq!(
            negotiate(account, Locale::Fr),
            Locale::De,
            "then the account's"
        );
        let both = Wishes {
            account: Some(Locale::De),
            ..asked(Some("nl"), Some("en"))
        };
        assert_eq!(
            negotiate(both, Locale::Fr),
            Locale::Nl,
            "ui_locales before it"
        );
    }

    /// A Belgian parent reads Brussels time in the way of their language, not UTC.
    #[test]
    fn moments_in_the_zone_and_the_way_of_each_language() {
        let when = DateTime::parse_from_rfc3339("2026-11-23T18:55:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let brussels = &Zone::load("Europe/Brussels").unwrap();
        assert_eq!(
            Locale::Fr.format_datetime(when, brussels),
            "23/11/2026 à 19:55"
        );
        assert_eq!(
            Locale::Nl.format_datetime(when, brussels),
            "23/11/2026 om 19:55"
        );
        assert_eq!(
            Locale::En.format_datetime(when, brussels),
            "23/11/2026 at 19:55"
        );
        assert_eq!(
            Locale::De.format_datetime(when, brussels),
            "23.11.2026 um 19:55 Uhr"
        );
        // Summer time is the zone's business too.
        let july = DateTime::parse_from_rfc3339("2026-07-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Locale::Fr.format_datetime(july, brussels),
            "01/07/2026 à 10:00"
        );
        // Names that are not zones are refused, with the reason.
        assert!(
            Zone::load("Europe/Bruxelles")
                .unwrap_err()
                .contains("tzdata")
        );
        assert!(Zone::load("../etc/passwd").is_err());
        assert!(
            Zone::load("CET-1CEST").is_err(),
            "POSIX rules are not names"
        );
        let birth = NaiveDate::from_ymd_opt(2014, 3, 9).unwrap();
        assert_eq!(Locale::Nl.format_date(birth), "09/03/2014");
        assert_eq!(Locale::De.format_date(birth), "09.03.2014");
    }

    /// Message keys that code builds from a prefix and a value (`admin-event-{kind}`):
    /// what they end in is checked against what produces them where an enum lists it.
    const BUILT: [&str; 11] = [
        "account-kind-",
        "account-done-",
        "admin-done-",
        "admin-event-",
        "admin-requests-done-",
        "admin-terms-done-",
        "admin-migration-status-",
        "admin-migration-outcome-",
        "admin-migration-reason-",
        "wizard-tab-",
        "password-rule-class-",
    ];

    /// Every file under `dir` ending in one of `extensions`, as text.
    fn sources(dir: &std::path::Path, extensions: &[&str], out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, extensions, out);
            } else if extensions
                .iter()
                .any(|e| path.to_string_lossy().ends_with(e))
            {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                out.push('\n');
            }
        }
    }

    /// A message no template or code uses any more fails, and so does a template naming a
    /// message missing in any language, or a kind of event or a migration reason without
    /// its words.
    #[test]
    fn every_message_is_used_and_every_used_message_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (mut templates, mut code) = (String::new(), String::new());
        sources(&root.join("templates"), &[".hbs"], &mut templates);
        sources(&root.join("idp/src"), &[".rs"], &mut code);
        let french = Translations::ids(Locale::Fr);
        for id in &french {
            let quoted = format!("\"{id}\"");
            let used = templates.contains(&quoted)
                || code.contains(&quoted)
                || BUILT.iter().any(|prefix| id.starts_with(prefix));
            assert!(used, "the message {id} is used nowhere");
        }
        let mut rest = templates.as_str();
        while let Some(at) = rest.find("{{t \"") {
            rest = &rest[at + 5..];
            let key = &rest[..rest.find('"').unwrap_or(0)];
            for locale in Locale::ALL {
                assert!(
                    Translations::ids(locale).iter().any(|id| id == key),
                    "{key} is missing in {}",
                    locale.as_str()
                );
            }
        }
        let built = crate::domain::audit::Kind::ALL
            .iter()
            .map(|k| format!("admin-event-{}", k.as_str().replace('_', "-")))
            .chain(
                crate::domain::migration::Reason::ALL
                    .iter()
                    .map(|r| format!("admin-migration-reason-{}", r.as_str().replace('_', "-"))),
            );
        for key in built {
            for locale in Locale::ALL {
                assert!(
                    Translations::ids(locale).contains(&key),
                    "{key} is missing in {}",
                    locale.as_str()
                );
            }
        }
    }

    #[test]
    fn every_locale_has_every_french_message() {
        let french = Translations::ids(Locale::Fr);
        assert!(french.len() > 10);
        for locale in [Locale::Nl, Locale::En, Locale::De] {
            let ids = Translations::ids(locale);
            for id in &french {
                assert!(ids.contains(id), "{} lacks {id}", locale.as_str());
            }
        }
        let t = Translations::load().unwrap();
        assert_eq!(t.get(Locale::Nl, "login-submit", None), "Aanmelden");
        use crate::domain::password_policy::{CharClass, Violation};
        for v in [
            Violation::TooShort { min: 8 },
            Violation::TooLong { max: 64 },
            Violation::MissingClass(CharClass::Lower),
            Violation::MissingClass(CharClass::Upper),
            Violation::MissingClass(CharClass::Digit),
            Violation::MissingClass(CharClass::Special),
            Violation::TooFewClasses { count: 3, of: 4 },
            Violation::PersonalInfo,
            Violation::Blocklisted,
            Violation::TooWeak,
        ] {
            assert!(french.contains(&v.message_key()), "no text for {v:?}");
        }
        assert_eq!(
            t.with_counts(Locale::Fr, "password-rule-min-length", &[("min", 8)]),
            "Le mot de passe doit faire au moins 8 caractères."
        );
    }
}
