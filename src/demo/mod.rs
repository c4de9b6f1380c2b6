//! The demo store's world: a deterministic catalogue generator and simulated shoppers whose clicks
//! the demo model is meta-trained on.
//!
//! # Catalogue
//!
//! [`generate_catalogue`] makes `n` products over 6 categories, 8 brands and 8 colours (each block of
//! 48 products holds every (category, brand) pair once, so brands are spread evenly over
//! categories), with a price drawn log-normally around the category's median times the
//! brand's price level, rounded to `x.99`, and a readable name ("Nordlys Wool Jumper, Forest
//! Green"). Every product also gets a hidden popularity; the products are stored in **catalogue
//! order** (most popular first), the order the store shows search results in. Same seed, same
//! catalogue, on every platform.
//!
//! # Item features
//!
//! [`item_vector`] is the item-level part of the model's candidate vector, [`D`] values named by
//! [`FEATURE_NAMES`]: one-hot brand, one-hot category, one-hot colour, then
//! `(ln price − ln 60) / 0.8` rounded to 4 decimals; the trained model's item table carries it, and
//! the price in the context of the list is a session feature the core computes. Cosine similarity
//! between two vectors (one of the core's session features) is thus mostly "same brand / category
//! / colour".
//!
//! # Shoppers
//!
//! [`simulate_sessions`] draws shoppers with hidden preferences: a favourite brand or two, a
//! favourite colour, a price level relative to the category's median, and how much each matters
//! (three kinds: brand-loyal, colour-led, bargain-hunting). A session is 2–5 searches; a search is
//! a query (a category, or a brand or colour word) answered by [`Catalogue::search`] with the first
//! [`RESULTS_PER_PAGE`] matches in catalogue order. The shopper looks at the list with position
//! bias, `examine(p) = (1 + p)^−0.6` for display index `p`, and engages with one item drawn with
//! weight `examine(p) · exp(u)`, `u` the item's utility under the hidden preferences
//! ([`Shopper::utility`]), or with none (weight 4 against the items' sum). After an engagement the same list is shown again (the page
//! re-ranks the same results after each click) and the shopper may engage again, up to three
//! times per search; items already engaged with keep 30% of their weight (shoppers come back to
//! compare). Engagements are mostly clicks, sometimes add-to-cart straight from the grid; a
//! clicked item may later be added to the cart or bought from its product page (a separate
//! [`Step::Event`]).
//!
//! | file | answers |
//! |---|---|
//! | `catalogue.rs` | What does the store sell? The products, their vectors, the search. |
//! | `shoppers.rs` | Who shops there? Shoppers with hidden preferences and the sessions they make. |

mod catalogue;
mod shoppers;

pub use catalogue::*;
pub use shoppers::*;
