//! The demo store's catalogue: a deterministic generator of products, their item vectors (the
//! model's item features) and the store's search. See the [module documentation](super).

use crate::error::{Error, Result};
use crate::rng::Rng;
use std::collections::HashSet;
use std::path::Path;

/// A category of the demo store.
#[derive(Clone, Copy, Debug)]
pub struct CategorySpec {
    pub name: &'static str,
    pub plural: &'static str,
    /// Median price of a mid-priced brand, in the store's currency.
    pub median_price: f32,
    /// Spread of ln price within the category.
    pub price_sigma: f32,
    /// Style words used in product names ("Wool" Jumper).
    pub styles: [&'static str; 4],
    /// Sizes (or fits) a product of the category comes in.
    pub sizes: [&'static str; 3],
}

/// A brand and its price level (a factor on the category median).
#[derive(Clone, Copy, Debug)]
pub struct BrandSpec {
    pub name: &'static str,
    pub price_level: f32,
}

/// A colour and how the demo draws it.
#[derive(Clone, Copy, Debug)]
pub struct ColourSpec {
    pub name: &'static str,
    pub hex: &'static str,
}

pub const CATEGORIES: [CategorySpec; 6] = [
    CategorySpec {
        name: "Jumper",
        plural: "Jumpers",
        median_price: 65.0,
        price_sigma: 0.25,
        styles: ["Wool", "Merino", "Cable-Knit", "Cotton"],
        sizes: ["XS–XL", "S–XXL", "XS–L"],
    },
    CategorySpec {
        name: "Jacket",
        plural: "Jackets",
        median_price: 140.0,
        price_sigma: 0.3,
        styles: ["Rain", "Down", "Softshell", "Denim"],
        sizes: ["S–XXL", "XS–XL", "M–XXL"],
    },
    CategorySpec {
        name: "Trainers",
        plural: "Trainers",
        median_price: 90.0,
        price_sigma: 0.25,
        styles: ["Running", "Canvas", "Leather", "Trail"],
        sizes: ["EU 36–46", "EU 38–47", "EU 35–42"],
    },
    CategorySpec {
        name: "T-Shirt",
        plural: "T-Shirts",
        median_price: 25.0,
        price_sigma: 0.25,
        styles: ["Organic", "Striped", "Pocket", "Linen"],
        sizes: ["XS–XL", "S–XXL", "XS–XXL"],
    },
    CategorySpec {
        name: "Jeans",
        plural: "Jeans",
        median_price: 70.0,
        price_sigma: 0.2,
        styles: ["Slim", "Straight", "Relaxed", "Tapered"],
        sizes: ["W28–W36", "W30–W38", "W26–W34"],
    },
    CategorySpec {
        name: "Backpack",
        plural: "Backpacks",
        median_price: 60.0,
        price_sigma: 0.3,
        styles: ["Roll-Top", "Commuter", "Hiking", "Canvas"],
        sizes: ["18 L", "24 L", "30 L"],
    },
];

pub const BRANDS: [BrandSpec; 8] = [
    BrandSpec { name: "Nordlys", price_level: 1.45 },
    BrandSpec { name: "Ashgrove", price_level: 1.25 },
    BrandSpec { name: "Kestrel", price_level: 1.1 },
    BrandSpec { name: "Marlowe", price_level: 1.0 },
    BrandSpec { name: "Tidewell", price_level: 1.0 },
    BrandSpec { name: "Solvang", price_level: 0.9 },
    BrandSpec { name: "Halden", price_level: 0.8 },
    BrandSpec { name: "Corvo", price_level: 0.7 },
];

pub const COLOURS: [ColourSpec; 8] = [
    ColourSpec { name: "Forest Green", hex: "#2f5d3a" },
    ColourSpec { name: "Navy", hex: "#1f2f55" },
    ColourSpec { name: "Charcoal", hex: "#3c3f44" },
    ColourSpec { name: "Oatmeal", hex: "#d9cbb0" },
    ColourSpec { name: "Rust", hex: "#b0532b" },
    ColourSpec { name: "Sky Blue", hex: "#7fb2dd" },
    ColourSpec { name: "Burgundy", hex: "#6e1f33" },
    ColourSpec { name: "Mustard", hex: "#d1a12a" },
];

/// Width of [`item_vector`].
pub const D: usize = BRANDS.len() + CATEGORIES.len() + COLOURS.len() + 1;

/// Names of the [`item_vector`] entries, in order.
pub const FEATURE_NAMES: [&str; D] = [
    "brand_nordlys",
    "brand_ashgrove",
    "brand_kestrel",
    "brand_marlowe",
    "brand_tidewell",
    "brand_solvang",
    "brand_halden",
    "brand_corvo",
    "category_jumper",
    "category_jacket",
    "category_trainers",
    "category_t_shirt",
    "category_jeans",
    "category_backpack",
    "colour_forest_green",
    "colour_navy",
    "colour_charcoal",
    "colour_oatmeal",
    "colour_rust",
    "colour_sky_blue",
    "colour_burgundy",
    "colour_mustard",
    "log_price",
];

/// Centre and scale of the `log_price` feature: `(ln price − ln 60) / 0.8`.
const LOG_PRICE_CENTRE: f32 = 60.0;
const LOG_PRICE_SCALE: f32 = 0.8;
/// Search results per page, in the simulation and in the demo.
pub const RESULTS_PER_PAGE: usize = 24;
/// Catalogue file format written by [`Catalogue::save_json`].
pub const CATALOGUE_FORMAT: &str = "fewclick-demo-catalogue";
/// Version 1 also carried each product's feature vector; the model's item table holds those now.
pub const CATALOGUE_VERSION: u32 = 2;

/// One product of the demo store.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: String,
    pub brand: String,
    pub colour: String,
    pub size: String,
    pub price: f32,
    /// Hidden popularity (a standard-normal draw) the catalogue order is sorted by.
    pub popularity: f32,
}

/// The demo store's products, in catalogue order (most popular first).
#[derive(Clone, Debug, PartialEq)]
pub struct Catalogue {
    /// The seed [`generate_catalogue`] was called with.
    pub seed: u64,
    pub products: Vec<Product>,
}

fn index_of<T>(specs: &[T], name: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
    specs.iter().position(|s| key(s) == name)
}

pub(super) fn category_index(p: &Product) -> usize {
    index_of(&CATEGORIES, &p.category, |c| c.name).unwrap_or(0)
}
pub(super) fn brand_index(p: &Product) -> usize {
    index_of(&BRANDS, &p.brand, |b| b.name).unwrap_or(0)
}
pub(super) fn colour_index(p: &Product) -> usize {
    index_of(&COLOURS, &p.colour, |c| c.name).unwrap_or(0)
}

/// The item-level feature vector of a product ([`D`] values, see [`FEATURE_NAMES`]). Attributes
/// outside the generator's lists get an all-zero one-hot block.
pub fn item_vector(p: &Product) -> Vec<f32> {
    let mut v = vec![0.0f32; D];
    let mut offset = 0;
    if let Some(b) = index_of(&BRANDS, &p.brand, |b| b.name) {
        v[offset + b] = 1.0;
    }
    offset += BRANDS.len();
    if let Some(c) = index_of(&CATEGORIES, &p.category, |c| c.name) {
        v[offset + c] = 1.0;
    }
    offset += CATEGORIES.len();
    if let Some(c) = index_of(&COLOURS, &p.colour, |c| c.name) {
        v[offset + c] = 1.0;
    }
    offset += COLOURS.len();
    let z = if p.price.is_finite() && p.price > 0.0 {
        (p.price.ln() - LOG_PRICE_CENTRE.ln()) / LOG_PRICE_SCALE
    } else {
        0.0
    };
    v[offset] = (z * 1e4).round() / 1e4;
    v
}

/// Lower-cased search tokens of a text; a trailing plural "s" is dropped from words longer than
/// three letters (not "ss"), so "jumpers" finds "Jumper". The demo page (www/search.js) implements
/// the same rule.
pub fn search_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let t = t.to_lowercase();
            if t.chars().count() > 3 && t.ends_with('s') && !t.ends_with("ss") {
                t[..t.len() - 1].to_string()
            } else {
                t
            }
        })
        .collect()
}

impl Product {
    /// What the search matches against: name, category (and its plural), brand and colour.
    fn search_text(&self) -> String {
        let plural = CATEGORIES.iter().find(|c| c.name == self.category).map_or("", |c| c.plural);
        format!("{} {} {} {} {}", self.name, self.category, plural, self.brand, self.colour)
    }
}

impl Catalogue {
    /// Ids of the first `limit` products matching a query, in catalogue order: every query token
    /// must be a prefix of some token of the product (see [`search_tokens`]). An empty query
    /// matches everything.
    pub fn search(&self, query: &str, limit: usize) -> Vec<usize> {
        let q = search_tokens(query);
        self.products
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                let tokens = search_tokens(&p.search_text());
                q.iter().all(|qt| tokens.iter().any(|t| t.starts_with(qt.as_str())))
            })
            .map(|(i, _)| i)
            .take(limit)
            .collect()
    }

    /// The queries the simulated shoppers use, which the demo offers as suggestions: every
    /// category (plural), brand and colour, lower-cased.
    pub fn canonical_queries() -> Vec<String> {
        CATEGORIES
            .iter()
            .map(|c| c.plural)
            .chain(BRANDS.iter().map(|b| b.name))
            .chain(COLOURS.iter().map(|c| c.name))
            .map(str::to_lowercase)
            .collect()
    }

    /// Writes the catalogue for the demo page: products in catalogue order with their feature
    /// vectors, the feature names, the attribute lists (colours with their hex codes) and the
    /// result ids of every canonical query (so the page can check its own search against this
    /// one).
    ///
    /// ```text
    /// {"format": "fewclick-demo-catalogue", "version": 1, "seed": 7,
    ///  "featureNames": [D item-level names], "listContextNames": [3 names],
    ///  "resultsPerPage": 24,
    ///  "categories": [{"name", "plural"}], "brands": [names], "colours": [{"name", "hex"}],
    ///  "queries": {"jumpers": [ids], ...},
    ///  "products": [{"id", "name", "category", "brand", "colour", "size", "price", "vector"}]}
    /// ```
    pub fn save_json(&self, path: &Path) -> Result<()> {
        let json = self.to_json();
        let text = serde_json::to_string(&json).map_err(|e| invalid(format!("cannot encode the catalogue: {e}")))?;
        write(path, text.as_bytes())
    }

    fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let queries: serde_json::Map<String, serde_json::Value> = Catalogue::canonical_queries()
            .into_iter()
            .map(|q| {
                let ids: Vec<&str> =
                    self.search(&q, RESULTS_PER_PAGE).into_iter().map(|i| self.products[i].id.as_str()).collect();
                (q, json!(ids))
            })
            .collect();
        let products: Vec<serde_json::Value> = self
            .products
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "name": p.name, "category": p.category, "brand": p.brand,
                    "colour": p.colour, "size": p.size, "price": decimal(p.price, 2),
                })
            })
            .collect();
        json!({
            "format": CATALOGUE_FORMAT,
            "version": CATALOGUE_VERSION,
            "seed": self.seed,
            "resultsPerPage": RESULTS_PER_PAGE,
            "categories": CATEGORIES.iter().map(|c| json!({"name": c.name, "plural": c.plural})).collect::<Vec<_>>(),
            "brands": BRANDS.iter().map(|b| b.name).collect::<Vec<_>>(),
            "colours": COLOURS.iter().map(|c| json!({"name": c.name, "hex": c.hex})).collect::<Vec<_>>(),
            "queries": queries,
            "products": products,
        })
    }

    /// Reads a file written by [`Catalogue::save_json`] (popularity is not stored: it reads back
    /// as 0). Checks the format.
    pub fn load_json(path: &Path) -> Result<Catalogue> {
        use serde_json::Value;
        let bad = |reason: String| invalid(format!("{}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v["format"] != CATALOGUE_FORMAT || v["version"] != CATALOGUE_VERSION {
            return Err(bad(format!("not a {CATALOGUE_FORMAT} version {CATALOGUE_VERSION} file")));
        }
        let seed = v["seed"].as_u64().ok_or_else(|| bad("missing seed".into()))?;
        let mut products = Vec::new();
        for (i, p) in v["products"].as_array().ok_or_else(|| bad("missing products".into()))?.iter().enumerate() {
            let s = |k: &str| p[k].as_str().map(str::to_owned).ok_or_else(|| bad(format!("product {i}: missing {k}")));
            let product = Product {
                id: s("id")?,
                name: s("name")?,
                category: s("category")?,
                brand: s("brand")?,
                colour: s("colour")?,
                size: s("size")?,
                price: p["price"].as_f64().ok_or_else(|| bad(format!("product {i}: missing price")))? as f32,
                popularity: 0.0,
            };
            products.push(product);
        }
        Ok(Catalogue { seed, products })
    }
}

/// `x` as the f64 with at most `places` decimals nearest to it, so that JSON shows `26.99`, not
/// the f32's exact expansion `26.989999771118164`.
pub(super) fn decimal(x: f32, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x as f64 * scale).round() / scale
}

pub(super) fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| invalid(format!("cannot write {}: {e}", path.display())))
}

/// A price rounded to `x.99` (at least 4.99).
fn shop_price(raw: f32) -> f32 {
    let whole = raw.round().max(5.0);
    ((whole - 0.01) * 100.0).round() / 100.0
}

/// Generates a catalogue of `n` products (deterministic for a seed; see the module docs).
pub fn generate_catalogue(seed: u64, n: usize) -> Catalogue {
    let mut rng = Rng::new(seed ^ 0x6361_7461_6c6f_6775); // "catalogu"
    let mut names = HashSet::new();
    let mut products = Vec::with_capacity(n);
    for i in 0..n {
        let cat = &CATEGORIES[i % CATEGORIES.len()];
        // Each block of 48 products holds every (category, brand) pair once.
        let brand = &BRANDS[(i / CATEGORIES.len()) % BRANDS.len()];
        // Draw style and colour until the name is new (32 names per (brand, category) pair; past
        // that, after 64 draws, a name may repeat).
        let mut attempt = 0;
        let (colour, name) = loop {
            let style = cat.styles[rng.below(cat.styles.len())];
            let colour = &COLOURS[rng.below(COLOURS.len())];
            let name = format!("{} {} {}, {}", brand.name, style, cat.name, colour.name);
            attempt += 1;
            if names.insert(name.clone()) || attempt >= 64 {
                break (colour, name);
            }
        };
        let size = cat.sizes[rng.below(cat.sizes.len())];
        let price = shop_price(cat.median_price * brand.price_level * (cat.price_sigma * rng.normal()).exp());
        let popularity = rng.normal();
        products.push(Product {
            id: format!("sku-{:03}", i + 1),
            name,
            category: cat.name.to_string(),
            brand: brand.name.to_string(),
            colour: colour.name.to_string(),
            size: size.to_string(),
            price,
            popularity,
        });
    }
    // Catalogue order: most popular first; ties (impossible in practice) by id.
    products.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then_with(|| a.id.cmp(&b.id)));
    Catalogue { seed, products }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_deterministic_and_readable() {
        let a = generate_catalogue(7, 192);
        assert_eq!(a, generate_catalogue(7, 192));
        assert_ne!(a, generate_catalogue(8, 192));
        assert_eq!(a.products.len(), 192);
        let ids: HashSet<&str> = a.products.iter().map(|p| p.id.as_str()).collect();
        let names: HashSet<&str> = a.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(ids.len(), 192, "ids are unique");
        assert_eq!(names.len(), 192, "names are unique");
        for p in &a.products {
            assert!(
                p.name.starts_with(&p.brand) && p.name.ends_with(&format!("{}, {}", p.category, p.colour)),
                "{}",
                p.name
            );
            assert!(p.price >= 4.99 && p.price < 1000.0, "{}: {}", p.name, p.price);
            assert!(((p.price * 100.0).round() as i64) % 100 == 99, "{} ends in .99", p.price);
        }
        // Catalogue order is popularity order.
        assert!(a.products.windows(2).all(|w| w[0].popularity >= w[1].popularity));
        // Every brand in every category, 4 times each in 192 products.
        for c in CATEGORIES {
            for b in BRANDS {
                let n = a.products.iter().filter(|p| p.category == c.name && p.brand == b.name).count();
                assert_eq!(n, 4, "{} {}", b.name, c.name);
            }
        }
        // Prices follow category and brand: the premium brand's jackets cost more than the budget
        // brand's T-shirts.
        let mean = |cat: &str, brand: &str| {
            let v: Vec<f32> =
                a.products.iter().filter(|p| p.category == cat && p.brand == brand).map(|p| p.price).collect();
            v.iter().sum::<f32>() / v.len() as f32
        };
        assert!(mean("Jacket", "Nordlys") > 3.0 * mean("T-Shirt", "Corvo"));
    }

    #[test]
    fn vectors_have_d_entries_and_match_the_names() {
        let cat = generate_catalogue(1, 60);
        assert_eq!(FEATURE_NAMES.len(), D);
        for (i, b) in BRANDS.iter().enumerate() {
            assert_eq!(FEATURE_NAMES[i], format!("brand_{}", b.name.to_lowercase()));
        }
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert_eq!(
                FEATURE_NAMES[BRANDS.len() + i],
                format!("category_{}", c.name.to_lowercase().replace('-', "_"))
            );
        }
        for (i, c) in COLOURS.iter().enumerate() {
            assert_eq!(
                FEATURE_NAMES[BRANDS.len() + CATEGORIES.len() + i],
                format!("colour_{}", c.name.to_lowercase().replace(' ', "_"))
            );
        }
        for p in &cat.products {
            let v = item_vector(p);
            assert_eq!(v.len(), D);
            assert!(v.iter().all(|x| x.is_finite()));
            let ones = |r: std::ops::Range<usize>| v[r].iter().filter(|&&x| x == 1.0).count();
            assert_eq!(ones(0..8), 1);
            assert_eq!(ones(8..14), 1);
            assert_eq!(ones(14..22), 1);
            assert_eq!(v[8 + category_index(p)], 1.0);
            let z = (p.price.ln() - 60f32.ln()) / 0.8;
            assert!((v[D - 1] - z).abs() <= 5e-5, "{} vs {z}", v[D - 1]);
        }
    }

    #[test]
    fn search_matches_tokens_in_catalogue_order() {
        let cat = generate_catalogue(7, 192);
        let jumpers = cat.search("jumpers", RESULTS_PER_PAGE);
        assert_eq!(jumpers.len(), RESULTS_PER_PAGE);
        assert!(jumpers.windows(2).all(|w| w[0] < w[1]), "catalogue order");
        assert!(jumpers.iter().all(|&i| cat.products[i].category == "Jumper"));
        // The first 24 jumpers of the catalogue, none skipped.
        let expected: Vec<usize> =
            (0..cat.products.len()).filter(|&i| cat.products[i].category == "Jumper").take(RESULTS_PER_PAGE).collect();
        assert_eq!(jumpers, expected);
        assert_eq!(cat.search("T-Shirts", 100).len(), 32);
        assert_eq!(cat.search("jeans", 100).len(), 32);
        assert_eq!(cat.search("nordlys", 100).len(), 24);
        let green = cat.search("forest green", 100);
        assert!(!green.is_empty() && green.iter().all(|&i| cat.products[i].colour == "Forest Green"));
        assert_eq!(cat.search("", 5), vec![0, 1, 2, 3, 4]);
        assert!(cat.search("submarine", 10).is_empty());
        assert_eq!(search_tokens("Cable-Knit Jumpers, Glass"), vec!["cable", "knit", "jumper", "glass"]);
    }
}
