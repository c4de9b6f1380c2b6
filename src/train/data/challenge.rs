//! The trivago RecSys Challenge 2019 layout (`--format trivago`; see the [module
//! documentation](super)).

use super::*;

/// trivago item actions that become click events.
pub(super) const TRIVAGO_ITEM_ACTIONS: [&str; 5] = [
    "interaction item image",
    "interaction item info",
    "interaction item rating",
    "interaction item deals",
    "search for item",
];

/// A CSV record with its line number, or the error naming the file and line: a malformed record, or
/// one whose field count differs from the header's.
pub(super) fn checked_record(path: &Path, record: CsvRecord, n_cols: usize) -> Result<(usize, Vec<String>)> {
    let (line, f) = record.map_err(|(line, reason)| at_line(path, line, reason))?;
    if f.len() != n_cols {
        return Err(at_line(path, line, format!("expected {n_cols} fields, found {}", f.len())));
    }
    Ok((line, f))
}

pub(super) fn load_trivago(path: &Path, progress: LoadProgress) -> Result<Dataset> {
    let (mut reader, mut tracker) = CsvReader::open(path)?;
    let header = Header::read(path, &mut reader)?;
    let cols = header.require(
        path,
        &["user_id", "session_id", "timestamp", "step", "action_type", "reference", "impressions", "prices"],
    )?;
    let [c_user, c_session, c_time, c_step, c_action, c_ref, c_impr, c_prices] =
        <[usize; 8]>::try_from(cols).map_err(|_| invalid("internal: column count".into()))?;
    let n_cols = header.names.len();
    let mut asm = Assembler::default();
    while let Some(record) = reader.next_record() {
        tracker.tick(progress);
        let (line, f) = checked_record(path, record, n_cols)?;
        let err = |reason: String| at_line(path, line, reason);
        let action = f[c_action].as_str();
        let is_click = action == "clickout item";
        if !is_click && !TRIVAGO_ITEM_ACTIONS.contains(&action) {
            continue;
        }
        let timestamp: f64 = f[c_time]
            .trim()
            .parse()
            .map_err(|_| err(format!("timestamp {:?} is not a number", f[c_time])))
            .and_then(|t| check_timestamp(t).map_err(err))?;
        let step_no: u64 =
            f[c_step].trim().parse().map_err(|_| err(format!("step {:?} is not a non-negative integer", f[c_step])))?;
        let session = f[c_session].clone();
        check_id("session_id", &session).map_err(err)?;
        let user = (!f[c_user].is_empty()).then(|| f[c_user].clone());
        if let Some(u) = &user {
            check_id("user_id", u).map_err(err)?;
        }
        let reference = &f[c_ref];
        let step = if is_click {
            if f[c_impr].is_empty() {
                return Err(err("a clickout row without impressions".into()));
            }
            let items = parse_list(&f[c_impr]);
            let prices = match f[c_prices].as_str() {
                "" => None,
                p => Some(parse_prices(p).map_err(err)?),
            };
            let clicked = (!reference.is_empty()).then(|| reference.clone());
            Step::Results(make_display(timestamp, items, prices, clicked, EventKind::Cart).map_err(err)?)
        } else {
            if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            check_id("reference", reference).map_err(err)?;
            let mut event = Event::new(reference.clone(), EventKind::Click);
            event.timestamp = Some(timestamp);
            Step::Event { timestamp, event }
        };
        // Order ties by step number, then by line.
        let order = (step_no.min(u32::MAX as u64) << 32) | (line as u64 & 0xFFFF_FFFF);
        asm.add(session, user, order, step).map_err(err)?;
    }
    Ok(asm.finish())
}
