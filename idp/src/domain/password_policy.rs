//! The password policy: configurable per deployment, enforced by the server, every failing
//! rule reported at once (the APSchool guide lists them all; people fix them in one go).
//!
//! Defaults follow NIST 800-63B §3.1.1.2: at least 8 characters, long passwords allowed,
//! no composition rules, but no personal information, no known-common password and a
//! minimum estimated strength (zxcvbn). Deployments that must match an existing rule set
//! configure it: CREOS requires a digit, an upper-case letter and a special character;
//! Smartschool 3 of 4 classes.

pub use crate::config::{CharClass, ClassesOf, PasswordPolicy};

impl CharClass {
    fn matches(self, c: char) -> bool {
        match self {
            Self::Lower => c.is_lowercase(),
            Self::Upper => c.is_uppercase(),
            Self::Digit => c.is_numeric(),
            Self::Special => !c.is_alphanumeric() && !c.is_whitespace(),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Upper => "upper",
            Self::Digit => "digit",
            Self::Special => "special",
        }
    }
}

/// Who the password is for, to refuse their own data in it.
#[derive(Debug, Default, Clone)]
pub struct PasswordContext<'a> {
    pub identifier: &'a str,
    pub names: Vec<&'a str>,
    pub email: Option<&'a str>,
}

/// One failing rule; `message_key` names its text in `templates/locales`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    TooShort { min: usize },
    TooLong { max: usize },
    MissingClass(CharClass),
    TooFewClasses { count: usize, of: usize },
    PersonalInfo,
    Blocklisted,
    TooWeak,
}

impl Violation {
    pub fn message_key(&self) -> String {
        match self {
            Self::TooShort { .. } => "password-rule-min-length".into(),
            Self::TooLong { .. } => "password-rule-max-length".into(),
            Self::MissingClass(c) => format!("password-rule-class-{}", c.as_str()),
            Self::TooFewClasses { .. } => "password-rule-classes-of".into(),
            Self::PersonalInfo => "password-rule-personal-info".into(),
            Self::Blocklisted => "password-rule-common".into(),
            Self::TooWeak => "password-rule-strength".into(),
        }
    }
}

impl Violation {
    /// Values the message shows (`$min`, `$max`, `$count`, `$of`).
    pub fn message_args(&self) -> Vec<(&'static str, usize)> {
        match self {
            Self::TooShort { min } => vec![("min", *min)],
            Self::TooLong { max } => vec![("max", *max)],
            Self::TooFewClasses { count, of } => vec![("count", *count), ("of", *of)],
            _ => Vec::new(),
        }
    }
}

impl PasswordPolicy {
    /// Every rule, as the violation it would give, in the order `check` lists them: what
    /// the new-password page shows before anything is typed (the blocklist is not shown).
    pub fn rules(&self) -> Vec<Violation> {
        let mut out = vec![Violation::TooShort {
            min: self.min_length,
        }];
        out.extend(
            self.required_classes
                .iter()
                .map(|c| Violation::MissingClass(*c)),
        );
        if let Some(rule) = &self.classes_of {
            out.push(Violation::TooFewClasses {
                count: rule.count,
                of: rule.of.len(),
            });
        }
        if self.forbid_personal_info {
            out.push(Violation::PersonalInfo);
        }
        if self.min_strength > 0 {
            out.push(Violation::TooWeak);
        }
        out
    }

    /// Every rule `password` breaks, in the order the rules are shown.
    pub fn check(&self, password: &str, who: &PasswordContext<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        let length = password.chars().count();
        if length < self.min_length {
            out.push(Violation::TooShort {
                min: self.min_length,
            });
        }
        if length > self.max_length {
            out.push(Violation::TooLong {
                max: self.max_length,
            });
            return out; // no estimate on huge input
        }
        let has = |class: CharClass| password.chars().any(|c| class.matches(c));
        for class in &self.required_classes {
            if !has(*class) {
                out.push(Violation::MissingClass(*class));
            }
        }
        if let Some(rule) = &self.classes_of
            && rule.of.iter().filter(|c| has(**c)).count() < rule.count
        {
            out.push(Violation::TooFewClasses {
                count: rule.count,
                of: rule.of.len(),
            });
        }
        let lowered = password.to_lowercase();
        let personal = personal_fragments(who);
        if self.forbid_personal_info && personal.iter().any(|p| lowered.contains(p.as_str())) {
            out.push(Violation::PersonalInfo);
        }
        if self.blocklist.iter().any(|b| b.to_lowercase() == lowered) {
            out.push(Violation::Blocklisted);
        }
        if self.min_strength > 0 && !password.is_empty() {
            let inputs: Vec<&str> = personal.iter().map(String::as_str).collect();
            let score: u8 = zxcvbn::zxcvbn(password, &inputs).score().into();
            if score < self.min_strength {
                out.push(Violation::TooWeak);
            }
        }
        out
    }
}

/// Lower-cased parts of the person's data long enough to matter (3+ characters).
pub fn personal_fragments(who: &PasswordContext<'_>) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |text: &str| {
        for piece in text.split(|c: char| !c.is_alphanumeric()) {
            if piece.chars().count() >= 3 {
                parts.push(piece.to_lowercase());
            }
        }
    };
    add(who.identifier);
    for name in &who.names {
        add(name);
    }
    if let Some(local) = who.email.and_then(|e| e.split('@').next()) {
        add(local);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jean() -> PasswordContext<'static> {
        PasswordContext {
            identifier: "jean.dupont",
            names: vec!["Jean", "Dupont"],
            email: Some("jean.dupont@hotmail.com"),
        }
    }

    fn creos() -> PasswordPolicy {
        PasswordPolicy {
            required_classes: vec![CharClass::Digit, CharClass::Upper, CharClass::Special],
            min_strength: 0,
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn creos_examples_pass_creos_rules_and_all_failures_are_listed() {
        for good in ["Babou45+", "123Soleil*", "Cool72++"] {
            assert_eq!(creos().check(good, &jean()), vec![], "{good}");
        }
        assert_eq!(
            creos().check("abc", &jean()),
            vec![
                Violation::TooShort { min: 8 },
                Violation::MissingClass(CharClass::Digit),
                Violation::MissingClass(CharClass::Upper),
                Violation::MissingClass(CharClass::Special),
            ]
        );
    }

    #[test]
    fn smartschool_three_of_four() {
        let policy = PasswordPolicy {
            classes_of: Some(ClassesOf {
                count: 3,
                of: vec![
                    CharClass::Lower,
                    CharClass::Upper,
                    CharClass::Digit,
                    CharClass::Special,
                ],
            }),
            min_strength: 0,
            ..PasswordPolicy::default()
        };
        assert!(policy.check("zonnebloem7K", &jean()).is_empty());
        assert_eq!(
            policy.check("zonnebloemen", &jean()),
            vec![Violation::TooFewClasses { count: 3, of: 4 }]
        );
    }

    #[test]
    fn defaults_refuse_personal_common_and_weak_passwords() {
        let policy = PasswordPolicy::default();
        assert!(
            policy
                .check("Dupont2024!", &jean())
                .contains(&Violation::PersonalInfo)
        );
        assert!(
            policy
                .check("password1", &jean())
                .contains(&Violation::TooWeak)
        );
        assert!(
            policy
                .check("vélo-cartable-soleil-prune", &jean())
                .is_empty()
        );
        let listed = PasswordPolicy {
            blocklist: vec!["EcoleSaintJoseph1".into()],
            ..PasswordPolicy::default()
        };
        assert!(
            listed
                .check("ecolesaintjoseph1", &jean())
                .contains(&Violation::Blocklisted)
        );
        assert_eq!(
            policy.check(&"x".repeat(129), &jean()),
            vec![Violation::TooLong { max: 128 }]
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert!(PasswordPolicy::default().validate().is_ok());
        assert!(
            PasswordPolicy {
                max_length: 20,
                ..PasswordPolicy::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            PasswordPolicy {
                classes_of: Some(ClassesOf {
                    count: 5,
                    of: vec![CharClass::Lower]
                }),
                ..PasswordPolicy::default()
            }
            .validate()
            .is_err()
        );
    }
}
