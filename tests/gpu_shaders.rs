//! Every WGSL kernel of src/gpu/shaders, parsed and validated natively with naga (the file as
//! written, and as the wasm build embeds it, without comments), and every
//! uniform struct checked field by field against its `#[repr(C)]` Rust mirror in src/gpu/mod.rs:
//! a drifted offset would garble the data silently on the GPU. (The kernels' numbers are checked
//! against the CPU reference in headless Chromium: tests/webgpu.rs.)
#![cfg(not(target_arch = "wasm32"))]

use fewclick::gpu::{
    GradShape, Kernel, LossShape, ScoreShape, SessionShape, StepShape, FEATURES, GRAD, LOSS_GRAD, SCORE, UPDATE,
    UPDATE_WORKGROUP, WORKGROUP,
};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, Module, TypeInner};

/// Parses and validates a kernel as written and as shipped (minified: its names shortened);
/// returns the written module after checking that both declare the same types (but for their
/// names), bindings and entry point.
fn kernel(k: &Kernel) -> Module {
    let written = module(k.file, k.source);
    let shipped = module(&format!("{} as shipped", k.file), k.shipped);
    let types = |m: &Module| unnamed(&format!("{:?}", m.types));
    assert_eq!(types(&written), types(&shipped), "{}: shipped types", k.file);
    let bindings = |m: &Module| m.global_variables.iter().map(|(_, v)| (v.space, v.binding)).collect::<Vec<_>>();
    assert_eq!(bindings(&written), bindings(&shipped), "{}: shipped bindings", k.file);
    assert_eq!(written.entry_points[0].name, shipped.entry_points[0].name);
    assert_eq!(written.entry_points[0].workgroup_size, shipped.entry_points[0].workgroup_size);
    written
}

/// naga's `Debug` of a module's types with every `name: Some("…")` blanked.
fn unnamed(debug: &str) -> String {
    let mut out = String::new();
    let mut rest = debug;
    while let Some(at) = rest.find("name: Some(\"") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "name: Some(\"".len()..];
        rest = after.find("\")").map_or("", |end| &after[end + 2..]);
        out.push_str("name: _");
    }
    out + rest
}

/// Parses and validates one WGSL text, with naga's messages in the failure.
fn module(name: &str, source: &str) -> Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: WGSL parse error:\n{}", e.emit_to_string(source)));
    Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: validation error:\n{}", e.emit_to_string(source)));
    module
}

/// Member names and byte offsets of a WGSL struct, and its size.
fn layout(module: &Module, struct_name: &str) -> (Vec<(String, usize)>, usize) {
    let ty = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(struct_name))
        .unwrap_or_else(|| panic!("no struct {struct_name}"))
        .1;
    match &ty.inner {
        TypeInner::Struct { members, span } => {
            (members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect(), *span as usize)
        }
        other => panic!("{struct_name} is not a struct: {other:?}"),
    }
}

/// The struct type of the shader's one uniform variable.
fn uniform_struct(module: &Module) -> String {
    let uniforms: Vec<_> = module.global_variables.iter().filter(|(_, v)| v.space == AddressSpace::Uniform).collect();
    assert_eq!(uniforms.len(), 1, "one uniform per kernel");
    module.types[uniforms[0].1.ty].name.clone().expect("named uniform struct")
}

fn assert_mirror(kernel: &str, module: &Module, fields: &[(&str, usize)], size: usize) {
    let name = uniform_struct(module);
    let (wgsl_fields, wgsl_size) = layout(module, &name);
    let rust: Vec<(String, usize)> = fields.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    assert_eq!(rust, wgsl_fields, "{kernel}: fields and offsets of the Rust mirror vs WGSL struct {name}");
    assert_eq!(size, wgsl_size, "{kernel}: size of the Rust mirror vs WGSL struct {name}");
    // The bytes the host writes are exactly the struct (every field a 4-byte scalar, no padding).
    assert_eq!(size, 4 * fields.len(), "{kernel}: the mirror has hidden padding");
}

fn workgroup_size(module: &Module) -> [u32; 3] {
    assert_eq!(module.entry_points.len(), 1, "one kernel per file");
    assert_eq!(module.entry_points[0].name, "main");
    module.entry_points[0].workgroup_size
}

/// Bindings must be 0..n in group 0: src/gpu/device.rs binds buffers by position.
fn assert_dense_bindings(kernel: &str, module: &Module) {
    let mut bindings: Vec<_> = module.global_variables.iter().filter_map(|(_, v)| v.binding).collect();
    bindings.sort_by_key(|b| b.binding);
    for (i, b) in bindings.iter().enumerate() {
        assert_eq!((b.group, b.binding), (0, i as u32), "{kernel}: bindings must be @group(0) @binding(0..n)");
    }
}

#[test]
fn features_kernel_validates_and_matches_its_mirror() {
    let m = kernel(&FEATURES);
    assert_mirror("features.wgsl", &m, SessionShape::FIELDS, std::mem::size_of::<SessionShape>());
    assert_eq!(workgroup_size(&m), [WORKGROUP, 1, 1]);
    assert_dense_bindings("features.wgsl", &m);
    // The storage struct the host packs by hand (fewclick::gpu::item_bytes).
    let item = layout(&m, "Item");
    let names = ["row", "engagement", "recency", "impressions", "skips", "time_recency"];
    assert_eq!(item, (names.iter().enumerate().map(|(i, n)| (n.to_string(), 4 * i)).collect(), 24));
    // Its constants are the ones src/session/ writes: the row width, the list-context width and
    // the position scale.
    let constant = |name: &str| {
        let c = m.constants.iter().find(|(_, c)| c.name.as_deref() == Some(name)).expect(name).1;
        m.global_expressions[c.init].clone()
    };
    match constant("S") {
        naga::Expression::Literal(naga::Literal::U32(v)) => assert_eq!(v as usize, fewclick::session::SESSION_DIM),
        other => panic!("S = {other:?}"),
    }
    match constant("C") {
        naga::Expression::Literal(naga::Literal::U32(v)) => {
            assert_eq!(v as usize, fewclick::session::LIST_CONTEXT_DIM)
        }
        other => panic!("C = {other:?}"),
    }
    match constant("POSITION_SCALE") {
        naga::Expression::Literal(naga::Literal::F32(v)) => assert_eq!(v, fewclick::session::POSITION_SCALE),
        other => panic!("POSITION_SCALE = {other:?}"),
    }
}

#[test]
fn item_packing_follows_the_wgsl_struct() {
    let t = fewclick::session::SummaryTable {
        columns: vec![],
        own_rows: vec![7, u32::MAX],
        has_centroid: false,
        log_mean_price: None,
        engaged: 0.0,
        last_row: u32::MAX,
        items: vec![(3, [1.0, 0.5, 0.25, 2.0, 0.125])],
        since_last: 0.0,
        since_first: 0.0,
        same_list: 0.0,
        prev_row: u32::MAX,
        last_kind: [0.0; 3],
        last_event_row: u32::MAX,
    };
    let b = fewclick::gpu::item_bytes(&t);
    let want: Vec<u8> = [
        3u32.to_le_bytes(),
        1f32.to_le_bytes(),
        0.5f32.to_le_bytes(),
        0.25f32.to_le_bytes(),
        2f32.to_le_bytes(),
        0.125f32.to_le_bytes(),
    ]
    .concat();
    assert_eq!(b, want);
    assert_eq!(fewclick::gpu::u32_bytes(&t.own_rows), [7u32.to_le_bytes(), u32::MAX.to_le_bytes()].concat());
}

#[test]
fn score_kernel_validates_and_matches_its_mirror() {
    let m = kernel(&SCORE);
    assert_mirror("score.wgsl", &m, ScoreShape::FIELDS, std::mem::size_of::<ScoreShape>());
    assert_eq!(workgroup_size(&m), [WORKGROUP, 1, 1]);
    assert_dense_bindings("score.wgsl", &m);
}

#[test]
fn loss_kernel_validates_and_matches_its_mirror() {
    let m = kernel(&LOSS_GRAD);
    assert_mirror("loss_grad.wgsl", &m, LossShape::FIELDS, std::mem::size_of::<LossShape>());
    assert_eq!(workgroup_size(&m), [WORKGROUP, 1, 1]);
    assert_dense_bindings("loss_grad.wgsl", &m);
    // The storage structs the host packs by hand (fewclick::gpu::pair_bytes / group_bytes).
    let pair = layout(&m, "Pair");
    assert_eq!(pair, (vec![("pos".into(), 0), ("neg".into(), 4), ("weight".into(), 8)], 12));
    let group = layout(&m, "Group");
    assert_eq!(
        group,
        (vec![("pos".into(), 0), ("neg_start".into(), 4), ("neg_end".into(), 8), ("weight".into(), 12)], 16)
    );
}

#[test]
fn grad_kernel_validates_and_matches_its_mirror() {
    let m = kernel(&GRAD);
    assert_mirror("grad.wgsl", &m, GradShape::FIELDS, std::mem::size_of::<GradShape>());
    assert_eq!(workgroup_size(&m), [WORKGROUP, 1, 1]);
    assert_dense_bindings("grad.wgsl", &m);
}

#[test]
fn update_kernel_validates_and_matches_its_mirror() {
    let m = kernel(&UPDATE);
    assert_mirror("update.wgsl", &m, StepShape::FIELDS, std::mem::size_of::<StepShape>());
    assert_eq!(workgroup_size(&m), [UPDATE_WORKGROUP, 1, 1]);
    assert_dense_bindings("update.wgsl", &m);
}

#[test]
fn pair_and_group_packing_follow_the_wgsl_structs() {
    use fewclick::session::{Group, SupportSet};
    let set = SupportSet {
        width: 1,
        inputs: vec![0.0; 3],
        base: vec![0.0; 3],
        pairs: vec![(0, 2, 0.5)],
        groups: vec![Group { pos: 0, negs: 1..3, weight: 2.0 }],
    };
    let p = fewclick::gpu::pair_bytes(&set);
    assert_eq!(p, [0u32.to_le_bytes(), 2u32.to_le_bytes(), 0.5f32.to_le_bytes()].concat());
    let g = fewclick::gpu::group_bytes(&set);
    assert_eq!(g, [0u32.to_le_bytes(), 1u32.to_le_bytes(), 3u32.to_le_bytes(), 2.0f32.to_le_bytes()].concat());
}
