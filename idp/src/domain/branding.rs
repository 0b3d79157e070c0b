//! An organising body's look on the pages: its name, colour and logo. A page wears the
//! brand of the application it logs into (a client may belong to a body), else of the
//! account it is about (when its schools belong to one body), else the neutral look.
//!
//! The colour is only ever a background whose text colour is computed for contrast
//! (black or white, whichever reads better: at least 4.5:1, WCAG 2.1 SC 1.4.3), so no
//! body can make its pages unreadable. Logos are served by the STS itself under the
//! brand's version (nothing external, CSP `img-src 'self'`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::clock::to_db;
use super::types::{OrganisingBodyId, UserId};
use super::{DomainError, DomainResult};
use crate::crypto;
use crate::store::DbConn;
use crate::store::schema::{brands, clients, organising_bodies, school_members, schools};

/// Largest logo accepted: a page's logo is small, and each page carries it.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// A colour as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour([u8; 3]);

impl TryFrom<String> for Colour {
    type Error = DomainError;
    fn try_from(text: String) -> DomainResult<Self> {
        Self::parse(&text)
    }
}

impl From<Colour> for String {
    fn from(colour: Colour) -> Self {
        colour.css()
    }
}

impl Colour {
    /// `#rrggbb` (or `rrggbb`), in any case.
    pub fn parse(text: &str) -> DomainResult<Self> {
        let hex = text.trim().trim_start_matches('#');
        let channel = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|c| u8::from_str_radix(c, 16).ok())
        };
        match (hex.len(), channel(0), channel(2), channel(4)) {
            (6, Some(r), Some(g), Some(b)) => Ok(Self([r, g, b])),
            _ => Err(DomainError::invalid("colour", "a colour as #rrggbb")),
        }
    }

    pub fn css(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// Relative luminance (WCAG 2.1, "relative luminance").
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// Contrast ratio with `other` (WCAG 2.1, "contrast ratio").
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Black or white, whichever contrasts more with this background (never under 4.5:1:
    /// the worst background, of luminance ~0.18, still gives 4.58:1).
    pub fn text_on(self) -> Colour {
        const BLACK: Colour = Colour([0, 0, 0]);
        const WHITE: Colour = Colour([255, 255, 255]);
        if self.contrast(BLACK) >= self.contrast(WHITE) {
            BLACK
        } else {
            WHITE
        }
    }
}

/// The kinds of image a logo may be, told from its first bytes (never from a file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoKind {
    Png,
    Jpeg,
    Svg,
}

impl LogoKind {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Svg => "image/svg+xml",
        }
    }

    fn parse(content_type: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Svg]
            .into_iter()
            .find(|k| k.content_type() == content_type)
    }

    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            return Some(Self::Jpeg);
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        (head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")))
            .then_some(Self::Svg)
    }
}

/// A logo's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub kind: LogoKind,
    pub bytes: Vec<u8>,
}

impl Logo {
    /// A PNG, JPEG or SVG image of at most [`MAX_LOGO_BYTES`].
    pub fn read(bytes: Vec<u8>) -> DomainResult<Self> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(DomainError::invalid("logo", "an image of at most 256 KiB"));
        }
        let kind = LogoKind::sniff(&bytes)
            .ok_or_else(|| DomainError::invalid("logo", "a PNG, JPEG or SVG image"))?;
        Ok(Self { kind, bytes })
    }
}

/// What a page shows of an organising body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brand {
    pub body: OrganisingBodyId,
    pub name: String,
    pub colour: Option<Colour>,
    pub has_logo: bool,
    /// Changes with the colour and the logo: the address of both.
    pub version: String,
}

impl Brand {
    /// The stylesheet that puts the colour on the page's band and buttons.
    pub fn stylesheet(&self) -> String {
        let Some(colour) = self.colour else {
            return String::new();
        };
        format!(
            ":root{{--brand:{};--on-brand:{}}}\n",
            colour.css(),
            colour.text_on().css()
        )
    }
}

/// Gives `body` its colour and logo (`None`: none), replacing the earlier ones.
pub fn set(
    conn: &mut DbConn,
    body: &OrganisingBodyId,
    colour: Option<Colour>,
    logo: Option<&Logo>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let mut seed = colour.map(Colour::css).unwrap_or_default().into_bytes();
    if let Some(logo) = logo {
        seed.extend_from_slice(&logo.bytes);
    }
    let version = crypto::hex(&crypto::sha256(&seed)[..6]);
    let row = (
        brands::organising_body_id.eq(body.to_string()),
        brands::colour.eq(colour.map(Colour::css)),
        brands::logo.eq(logo.map(|l| l.bytes.clone())),
        brands::logo_type.eq(logo.map(|l| l.kind.content_type())),
        brands::version.eq(version),
        brands::updated_at.eq(to_db(now)),
    );
    diesel::delete(brands::table.find(body.to_string())).execute(conn)?;
    diesel::insert_into(brands::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Takes `body`'s colour and logo away: its pages look neutral but for its name.
pub fn clear(conn: &mut DbConn, body: &OrganisingBodyId) -> DomainResult<()> {
    diesel::delete(brands::table.find(body.to_string())).execute(conn)?;
    Ok(())
}

/// Makes `client` an application of `body` (`None`: of none).
pub fn set_client_body(
    conn: &mut DbConn,
    client: &str,
    body: Option<&OrganisingBodyId>,
) -> DomainResult<()> {
    let changed = diesel::update(clients::table.find(client))
        .set(clients::organising_body_id.eq(body.map(ToString::to_string)))
        .execute(conn)?;
    match changed {
        0 => Err(DomainError::NotFound(format!("client {client}").into())),
        _ => Ok(()),
    }
}

/// A brand with its logo: body id and name, colour, logo and its type.
type FullRow = (
    String,
    String,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
);

type BrandRow = (String, String, Option<String>, Option<bool>, Option<String>);

fn brand_of(row: BrandRow) -> DomainResult<Brand> {
    let (body, name, colour, has_logo, version) = row;
    Ok(Brand {
        body: OrganisingBodyId::parse(&body)?,
        name,
        colour: colour.as_deref().map(Colour::parse).transpose()?,
        has_logo: has_logo.unwrap_or(false),
        version: version.unwrap_or_default(),
    })
}

/// The columns a [`Brand`] is read from, bodies left-joined to their brands.
macro_rules! brand_columns {
    () => {
        (
            organising_bodies::id,
            organising_bodies::name,
            brands::colour.nullable(),
            brands::logo.nullable().is_not_null().nullable(),
            brands::version.nullable(),
        )
    };
}

/// The brand of the organising body `client` belongs to.
pub fn of_client(conn: &mut DbConn, client: &str) -> DomainResult<Option<Brand>> {
    let row: Option<BrandRow> = clients::table
        .filter(clients::id.eq(client))
        .inner_join(
            organising_bodies::table
                .on(clients::organising_body_id.eq(organising_bodies::id.nullable())),
        )
        .left_join(brands::table.on(brands::organising_body_id.eq(organising_bodies::id)))
        .select(brand_columns!())
        .first(conn)
        .optional()?;
    row.map(brand_of).transpose()
}

/// The brand of the one organising body `user`'s schools belong to; none when they
/// belong to several (a parent with children at two boards) or to none.
pub fn of_account(conn: &mut DbConn, user: UserId) -> DomainResult<Option<Brand>> {
    let rows: Vec<BrandRow> = school_members::table
        .filter(school_members::user_id.eq(user.to_string()))
        .inner_join(schools::table)
        .inner_join(
            organising_bodies::table.on(schools::organising_body_id.eq(organising_bodies::id)),
        )
        .left_join(brands::table.on(brands::organising_body_id.eq(organising_bodies::id)))
        .select(brand_columns!())
        .distinct()
        .limit(2)
        .load(conn)?;
    match <[BrandRow; 1]>::try_from(rows) {
        Ok([row]) => brand_of(row).map(Some),
        Err(_) => Ok(None),
    }
}

/// `body`'s brand, if it has one at `version` (an older page's address finds nothing).
pub fn at_version(
    conn: &mut DbConn,
    body: &str,
    version: &str,
) -> DomainResult<Option<(Brand, Option<Logo>)>> {
    let row: Option<FullRow> = brands::table
        .inner_join(
            organising_bodies::table.on(brands::organising_body_id.eq(organising_bodies::id)),
        )
        .filter(brands::organising_body_id.eq(body))
        .filter(brands::version.eq(version))
        .select((
            organising_bodies::id,
            organising_bodies::name,
            brands::colour,
            brands::logo,
            brands::logo_type,
        ))
        .first(conn)
        .optional()?;
    let Some((id, name, colour, logo, logo_type)) = row else {
        return Ok(None);
    };
    let logo = match (logo, logo_type.as_deref().and_then(LogoKind::parse)) {
        (Some(bytes), Some(kind)) => Some(Logo { kind, bytes }),
        _ => None,
    };
    let brand = brand_of((
        id,
        name,
        colour,
        Some(logo.is_some()),
        Some(version.to_owned()),
    ))?;
    Ok(Some((brand, logo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_in_any_case_and_refuse_the_rest() {
        assert_eq!(Colour::parse("#0A5fC3").unwrap().css(), "#0a5fc3");
        assert_eq!(Colour::parse("0a5fc3").unwrap().css(), "#0a5fc3");
        for bad in ["", "#fff", "#12345g", "red", "#1234567", "#éé1234"] {
            assert!(Colour::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_text_on_any_brand_colour_reads_at_aa_contrast() {
        // Every 17th step of each channel, the mid-greys where neither black nor white
        // does well among them.
        for r in (0..=255u8).step_by(17) {
            for g in (0..=255u8).step_by(17) {
                for b in (0..=255u8).step_by(17) {
                    let c = Colour([r, g, b]);
                    assert!(c.contrast(c.text_on()) >= 4.5, "{}", c.css());
                }
            }
        }
        let navy = Colour::parse("#003366").unwrap();
        assert_eq!(navy.text_on().css(), "#ffffff");
        let yellow = Colour::parse("#ffd700").unwrap();
        assert_eq!(yellow.text_on().css(), "#000000");
    }

    #[test]
    fn logos_are_told_by_their_bytes() {
        let png = Logo::read(b"\x89PNG\r\n\x1a\nrest".to_vec()).unwrap();
        assert_eq!(png.kind, LogoKind::Png);
        let svg = Logo::read(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"x\"/>".to_vec()).unwrap();
        assert_eq!(svg.kind, LogoKind::Svg);
        assert!(Logo::read(b"GIF89a".to_vec()).is_err());
        assert!(Logo::read(b"<html><svg/></html>".to_vec()).is_err());
        let big = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; MAX_LOGO_BYTES]].concat();
        assert!(Logo::read(big).is_err());
    }
}
