//! How JS values become Rust values at the boundary: arrays of numbers and strings, the reranker's
//! options and an event. Every reader checks sizes before it copies and names the offending key
//! or index in its error.
//!
//! The options and events are read field by field with `Reflect`, not deserialised with serde:
//! serde's deserialiser builds its error messages with `Unexpected`, which formats floats, and that
//! formatting machinery alone was about a fifth of the shipped wasm (issue 11). The readers are
//! also stricter than serde-wasm-bindgen, which ignores `deny_unknown_fields`: an unknown key is
//! an error, so a misspelt `maxmove` is not silently ignored.

use super::{invalid, js_error, JsResult};
use crate::error::{msg, Error, Quoted};
use crate::session::{Event, EventKind, MAX_ID_BYTES};
use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Rejects keys outside `allowed`.
pub(super) fn check_keys(value: &JsValue, allowed: &[&str], what: &str) -> JsResult<()> {
    if let Some(obj) = as_object(value) {
        for key in Object::keys(obj).iter() {
            let key = key.as_string().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                return Err(unknown_key(&key, allowed, what));
            }
        }
    }
    Ok(())
}

/// [`check_keys`] against the allowed keys already made JS strings (`allowed_js`, in the order
/// of `allowed`): each key is compared in JS (`===`), not copied out as a Rust string.
fn check_keys_js(value: &JsValue, allowed_js: &[JsValue], allowed: &[&str], what: &str) -> JsResult<()> {
    if let Some(obj) = as_object(value) {
        for key in Object::keys(obj).iter() {
            if !allowed_js.contains(&key) {
                return Err(unknown_key(&key.as_string().unwrap_or_default(), allowed, what));
            }
        }
    }
    Ok(())
}

/// Any object, a null-prototype one included (the package passes its copies so; `dyn_ref::<Object>`
/// tests `instanceof Object` and would skip their keys).
fn as_object(value: &JsValue) -> Option<&Object> {
    value.is_object().then(|| value.unchecked_ref())
}

#[cfg_attr(fewclick_ship, optimize(size), inline(never))]
fn unknown_key(key: &str, allowed: &[&str], what: &str) -> JsValue {
    invalid(msg!(what, ": unknown key ", Quoted(key), " (expected one of ", allowed.join(", "), ")"))
}

/// The length of a Float32Array or an array (None for anything else), read without converting.
pub(super) fn js_len(value: &JsValue) -> Option<usize> {
    if let Some(a) = value.dyn_ref::<Float32Array>() {
        return Some(a.length() as usize);
    }
    Array::is_array(value).then(|| Array::from(value).length() as usize)
}

/// Checks an array's length against `expected` before anything is converted from JS, so an
/// oversized array costs nothing.
pub(super) fn check_js_len(value: &JsValue, what: &'static str, expected: usize) -> JsResult<()> {
    match js_len(value) {
        Some(found) if found != expected => Err(js_error(&Error::DimensionMismatch { what, expected, found })),
        _ => Ok(()),
    }
}

/// A Float32Array, or an array of numbers, as a Vec<f32> (allocated once, at its length).
pub(super) fn f32s(value: &JsValue, what: &str) -> JsResult<Vec<f32>> {
    if let Some(a) = value.dyn_ref::<Float32Array>() {
        return Ok(a.to_vec());
    }
    if Array::is_array(value) {
        let arr = Array::from(value);
        let mut out = Vec::with_capacity(arr.length() as usize);
        for i in 0..arr.length() {
            out.push(arr.get(i).as_f64().ok_or_else(|| invalid(msg!(what, "[", i, "] is not a number")))? as f32);
        }
        return Ok(out);
    }
    Err(invalid(msg!(what, " must be a Float32Array or an array of numbers")))
}

pub(super) fn optional_f32s(value: &JsValue, what: &str) -> JsResult<Option<Vec<f32>>> {
    if absent(value) {
        Ok(None)
    } else {
        f32s(value, what).map(Some)
    }
}

/// An array of strings, each at most `max_bytes` long: the length of each is checked before it
/// is copied out of JS (a UTF-16 length over the limit means a UTF-8 one over it too).
pub(super) fn strings(
    value: &JsValue,
    what: &str,
    max_bytes: usize,
    refuse: fn(String) -> Error,
) -> JsResult<Vec<String>> {
    if !Array::is_array(value) {
        return Err(invalid(msg!(what, " must be an array of strings")));
    }
    let arr = Array::from(value);
    let mut out = Vec::with_capacity(arr.length() as usize);
    for i in 0..arr.length() {
        let v = arr.get(i);
        let s = v.dyn_ref::<js_sys::JsString>().ok_or_else(|| invalid(msg!(what, "[", i, "] is not a string")))?;
        out.push(checked_string(s, || msg!(what, "[", i, "]"), max_bytes, refuse)?);
    }
    Ok(out)
}

/// A JS string as a Rust one, its length checked before the copy; a lone surrogate (which would
/// become U+FFFD and collide with a real one) is refused. `what` names the string, built only
/// for an error (setResults reads one string per id).
fn checked_string(
    s: &js_sys::JsString,
    what: impl Fn() -> String,
    max_bytes: usize,
    refuse: fn(String) -> Error,
) -> JsResult<String> {
    if s.length() as usize > max_bytes {
        return Err(js_error(&refuse(msg!(what(), " is longer than ", max_bytes, " bytes"))));
    }
    if !s.is_valid_utf16() {
        return Err(js_error(&refuse(msg!(what(), " is not well-formed UTF-16 (a lone surrogate)"))));
    }
    Ok(String::from(s))
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// One field of an object (`undefined` when it has none, or when reading it throws).
fn field(obj: &JsValue, key: &str) -> JsValue {
    field_js(obj, &key.into())
}

/// [`field`] with the key already a JS string.
fn field_js(obj: &JsValue, key: &JsValue) -> JsValue {
    Reflect::get(obj, key).unwrap_or(JsValue::UNDEFINED)
}

/// A non-negative integer up to `u32::MAX`, or None when the field is absent (undefined or null).
fn uint(obj: &JsValue, key: &str, what: &str) -> JsResult<Option<u32>> {
    let v = field(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(x) if x >= 0.0 && x <= u32::MAX as f64 && x.fract() == 0.0 => Ok(Some(x as u32)),
        _ => Err(invalid(msg!(what, ".", key, " must be a non-negative integer"))),
    }
}

/// A number (any f64, checked by the core), or None when the field is absent. `key` is the
/// field's name made a JS string, `name` the same for messages.
fn number(obj: &JsValue, key: &JsValue, name: &str, what: &str) -> JsResult<Option<f64>> {
    let v = field_js(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    v.as_f64().map(Some).ok_or_else(|| invalid(msg!(what, ".", name, " must be a number")))
}

fn string(
    obj: &JsValue,
    key: &str,
    what: &str,
    max_bytes: usize,
    refuse: fn(String) -> Error,
) -> JsResult<Option<String>> {
    string_js(obj, &key.into(), key, what, max_bytes, refuse)
}

/// [`string`] with the key already a JS string (`name` for messages).
fn string_js(
    obj: &JsValue,
    key: &JsValue,
    name: &str,
    what: &str,
    max_bytes: usize,
    refuse: fn(String) -> Error,
) -> JsResult<Option<String>> {
    let v = field_js(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    let s = v.dyn_ref::<js_sys::JsString>().ok_or_else(|| invalid(msg!(what, ".", name, " must be a string")))?;
    checked_string(s, || msg!(what, ".", name), max_bytes, refuse).map(Some)
}

/// The reranker's settings as the host gave them (`None`: the model's or the default).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Options {
    pub max_candidates: Option<usize>,
    pub event_capacity: Option<usize>,
    /// `Some(None)`: `maxMove: null`, unbounded; `None`: absent, the model's setting.
    pub max_move: Option<Option<u32>>,
    pub scope: Option<String>,
    pub steps: Option<u32>,
    pub rank_without_events: Option<bool>,
}

/// The keys of the options object (scripts/lib/check-api-drift.mjs compares them with the
/// package's `OPTION_KEYS` and its types).
pub(super) const OPTION_KEYS: [&str; 6] =
    ["maxCandidates", "eventCapacity", "maxMove", "scope", "steps", "rankWithoutEvents"];

/// The keys of an event object (checked like [`OPTION_KEYS`], against `EVENT_KEYS`).
pub(super) const EVENT_KEYS: [&str; 4] = ["item", "type", "timestamp", "dwellMs"];

thread_local! {
    /// [`EVENT_KEYS`] as JS strings, made once: `record` reads four fields per event, and making
    /// each key anew copied it into JS every time.
    static EVENT_KEYS_JS: [JsValue; 4] = EVENT_KEYS.map(JsValue::from_str);
}

/// `{ maxCandidates, eventCapacity, maxMove, scope, steps, rankWithoutEvents }`, every key
/// optional; undefined or null is no options.
#[cfg_attr(fewclick_ship, optimize(size), inline(never))]
pub(super) fn options(value: &JsValue) -> JsResult<Options> {
    const WHAT: &str = "options";
    if absent(value) {
        return Ok(Options::default());
    }
    if !value.is_object() {
        return Err(invalid("options must be an object"));
    }
    check_keys(value, &OPTION_KEYS, WHAT)?;
    let max_move = match field(value, "maxMove") {
        v if v.is_undefined() => None,
        v if v.is_null() => Some(None),
        _ => Some(uint(value, "maxMove", WHAT)?),
    };
    let rank_without_events = match field(value, "rankWithoutEvents") {
        v if absent(&v) => None,
        v => Some(v.as_bool().ok_or_else(|| invalid("options.rankWithoutEvents must be a boolean"))?),
    };
    Ok(Options {
        max_candidates: uint(value, "maxCandidates", WHAT)?.map(|n| n as usize),
        event_capacity: uint(value, "eventCapacity", WHAT)?.map(|n| n as usize),
        max_move,
        scope: string(value, "scope", WHAT, MAX_ID_BYTES, |reason| Error::InvalidInput { reason })?,
        steps: uint(value, "steps", WHAT)?,
        rank_without_events,
    })
}

/// `{ item, type, timestamp?, dwellMs? }`; `timestamp` in milliseconds on the `Date.now()` clock
/// (None: the caller stamps it), `dwellMs` 0 when absent.
pub(super) fn event(value: &JsValue) -> JsResult<(Event, Option<f64>)> {
    const WHAT: &str = "event";
    if !value.is_object() {
        return Err(invalid("event must be an object { item, type, timestamp?, dwellMs? }"));
    }
    EVENT_KEYS_JS.with(|keys| {
        let [item_key, type_key, time_key, dwell_key] = keys;
        check_keys_js(value, keys, &EVENT_KEYS, WHAT)?;
        let item = string_js(value, item_key, EVENT_KEYS[0], WHAT, MAX_ID_BYTES, |reason| Error::InvalidId { reason })?
            .ok_or_else(|| invalid("event.item is missing"))?;
        let kind =
            string_js(value, type_key, EVENT_KEYS[1], WHAT, MAX_ID_BYTES, |reason| Error::InvalidInput { reason })?
                .ok_or_else(|| invalid("event.type is missing"))?;
        let kind = EventKind::parse(&kind).map_err(|e| js_error(&e))?;
        let timestamp_ms = number(value, time_key, EVENT_KEYS[2], WHAT)?;
        let dwell_ms = number(value, dwell_key, EVENT_KEYS[3], WHAT)?.map_or(0.0, |d| d as f32);
        Ok((Event { item, kind, timestamp: None, dwell_ms }, timestamp_ms))
    })
}
