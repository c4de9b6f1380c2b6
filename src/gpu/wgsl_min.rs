//! The WGSL kernels as the wasm build embeds them: the code without its prose, its layout or its
//! long names. `build.rs` runs [`minify`] over every file of `src/gpu/shaders` (this file is
//! included there by path, so it uses std alone); `tests/gpu_shaders.rs` validates both forms
//! with naga and checks that they declare the same types and bindings.
//!
//! * `//` and `/* */` comments go (WGSL has no string literals, so they always open a comment).
//! * Whitespace goes, except one space between two word characters (`fn f`, `return 1.0`) and
//!   between two operator characters that could otherwise fuse (`- -1`, `> =`, `/ *p`).
//! * Every name the shader declares (structs and their members, module-scope variables and
//!   constants, functions, parameters, locals) longer than two characters becomes a one- or
//!   two-letter name no token of the shader uses, the most used first. Kept: `main` (the entry
//!   point the device asks for), names of one or two characters, names that a vector's swizzle
//!   could spell (`xyz`, `rgba`), since a member access might be one, and attributes' names.

/// A token of WGSL and whether whitespace or a comment came before it.
struct Token<'a> {
    text: &'a str,
    spaced: bool,
}

/// A byte of a word: ASCII letters, digits and `_`, and every byte of a non-ASCII character
/// (WGSL names may be Unicode), so a token never ends inside a character.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii()
}

fn is_operator(b: u8) -> bool {
    matches!(b, b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'<' | b'>' | b'=' | b'!' | b'~')
}

/// Words (names, keywords, numbers with their suffixes and exponents) and single punctuation
/// characters, comments and whitespace dropped.
fn tokens(src: &str) -> Vec<Token<'_>> {
    let b = src.as_bytes();
    let (mut out, mut i, mut spaced) = (Vec::new(), 0, false);
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            (i, spaced) = (i + 1, true);
        } else if src[i..].starts_with("//") {
            i += src[i..].find('\n').unwrap_or(src.len() - i);
            spaced = true;
        } else if src[i..].starts_with("/*") {
            i += src[i + 2..].find("*/").map_or(src.len() - i, |e| e + 4);
            spaced = true;
        } else {
            let start = i;
            i += 1;
            if is_word(c) || (c == b'.' && b.get(i).is_some_and(u8::is_ascii_digit)) {
                let number = c.is_ascii_digit() || c == b'.';
                while i < b.len()
                    && (is_word(b[i])
                        || (number && b[i] == b'.')
                        || (number && matches!(b[i], b'+' | b'-') && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')))
                {
                    i += 1;
                }
            }
            out.push(Token { text: &src[start..i], spaced });
            spaced = false;
        }
    }
    out
}

/// Whether `name` is one [`minify`] shortens.
fn renamed(name: &str) -> bool {
    let swizzle = |set: &str| name.len() <= 4 && name.chars().all(|c| set.contains(c));
    name.len() > 2 && name != "main" && !swizzle("xyzw") && !swizzle("rgba")
}

/// The names `toks` declare: after `struct`, `fn`, `let`, `var` (and its `<…>`), `const` and
/// `alias`, and before a `:` (members, parameters, typed declarations); not `override`s (a
/// pipeline may set one by name), nor a `switch`'s `case …:` / `default:`.
fn declared<'a>(toks: &[Token<'a>]) -> Vec<&'a str> {
    let mut names = Vec::new();
    let mut add = |name: &'a str| {
        let first = name.as_bytes().first().copied().unwrap_or(b'0');
        let keyword = matches!(name, "default" | "case");
        if renamed(name) && is_word(first) && !first.is_ascii_digit() && !keyword && !names.contains(&name) {
            names.push(name);
        }
    };
    let text = |i: usize| toks.get(i).map_or("", |t| t.text);
    let mut kept = Vec::new();
    for i in 0..toks.len() {
        match text(i) {
            "struct" | "fn" | "let" | "const" | "alias" => add(text(i + 1)),
            // A pipeline may set an override by name: it keeps it.
            "override" => kept.push(text(i + 1)),
            "var" => {
                let mut j = i + 1;
                if text(j) == "<" {
                    while j < toks.len() && text(j) != ">" {
                        j += 1;
                    }
                    j += 1;
                }
                add(text(j));
            }
            name if text(i + 1) == ":" => add(name),
            _ => {}
        }
    }
    names.retain(|n| !kept.contains(n));
    names
}

/// Short names in order (`A` … `Z`, then `Aa` … `Zz`), leaving out any the shader already uses.
fn short_names<'a>(used: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    let upper = (b'A'..=b'Z').map(char::from);
    let singles = upper.clone().map(String::from);
    let pairs = upper.flat_map(|a| (b'a'..=b'z').map(move |b| format!("{a}{}", char::from(b))));
    singles.chain(pairs).filter(move |n| !used.contains(&n.as_str()))
}

/// The shipped form of a WGSL source (see the module docs). Block comments do not nest here.
pub fn minify(src: &str) -> String {
    let toks = tokens(src);
    let mut names = declared(&toks);
    let count = |n: &str| toks.iter().filter(|t| t.text == n).count();
    names.sort_by_key(|n| std::cmp::Reverse(count(n)));
    let used: Vec<&str> = toks.iter().map(|t| t.text).collect();
    let map: Vec<(&str, String)> = names.into_iter().zip(short_names(&used)).collect();
    let mut out = String::with_capacity(src.len() / 2);
    let mut last = 0u8;
    for t in &toks {
        // An attribute's name (`@group`, `@size`) is never one of the shader's.
        let attribute = last == b'@';
        let renamed = map.iter().find(|(from, _)| *from == t.text && !attribute);
        let text = renamed.map_or(t.text, |(_, to)| to.as_str());
        let first = text.as_bytes()[0];
        if t.spaced && ((is_word(last) && is_word(first)) || (is_operator(last) && is_operator(first))) {
            out.push(' ');
        }
        out.push_str(text);
        last = text.as_bytes()[text.len() - 1];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::minify;

    #[test]
    fn comments_and_layout_go_and_operators_that_would_fuse_keep_their_space() {
        let src = "// header\n\nstruct S {\n    a: u32, // the a\n    b: f32,\n}\n  /* block */\nfn f() -> f32 { return 1.0 / 2.0; }\n";
        assert_eq!(minify(src), "struct S{a:u32,b:f32,}fn f()->f32{return 1.0/2.0;}");
        assert_eq!(minify("let a = - -b;\nlet c = d / *e;\nx = y >= z;"), "let a= - -b;let c=d/ *e;x=y>=z;");
        assert_eq!(minify("let v = 1.5e-3f + 2e+1 - 0x7f800000u;"), "let v=1.5e-3f+2e+1-0x7f800000u;");
    }

    #[test]
    fn declared_names_become_short_ones_consistently() {
        let src = "struct Shape { rows: u32, scale: f32 }\n\
                   @group(0) @binding(0) var<uniform> shape: Shape;\n\
                   @group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\
                   fn scaled(value: f32) -> f32 { return value * shape.scale; }\n\
                   @compute @workgroup_size(64)\n\
                   fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                       let row = id.x;\n\
                       if (row < shape.rows) { out[row] = scaled(f32(row)) + id.xyz.x; }\n\
                   }";
        let got = minify(src);
        for kept in [
            "fn main(",
            "@builtin(global_invocation_id)",
            "id.x",
            "id.xyz.x",
            "var<uniform>",
            "array<f32>",
            "vec3<u32>",
            "f32(",
        ] {
            assert!(got.contains(kept), "{kept} in {got}");
        }
        for gone in ["Shape", "rows", "scale", "shape", "out", "scaled", "value", "row"] {
            let word = |s: &str| got.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == s);
            assert!(!word(gone), "{gone} renamed in {got}");
        }
        // The most used first: row (4 times) A, shape (3) B, then in the order declared.
        let want = "struct C{D:u32,E:f32}@group(0)@binding(0)var<uniform>B:C;\
                    @group(0)@binding(1)var<storage,read_write>F:array<f32>;fn G(H:f32)->f32{return H*B.E;}\
                    @compute@workgroup_size(64)fn main(@builtin(global_invocation_id)id:vec3<u32>)\
                    {let A=id.x;if(A<B.D){F[A]=G(f32(A))+id.xyz.x;}}";
        assert_eq!(got, want);
        // The same name in every place: the member through the struct, the call of the function.
        assert_eq!(got.matches(".").count(), src.matches(".").count());
    }

    #[test]
    fn overrides_and_switch_labels_keep_their_names() {
        let got = minify("override scale: f32 = 1.0; fn pick(value: u32) -> u32 { switch value { case 100: { return 1u; } default: { return 2u; } } }");
        assert_eq!(got, "override scale:f32=1.0;fn B(A:u32)->u32{switch A{case 100:{return 1u;}default:{return 2u;}}}");
        // Unicode in comments and names: whole characters, a name renamed like any other.
        assert_eq!(minify("// ∂L/∂θ\nlet θ_new = 1.0; // × 2\nlet y = θ_new;"), "let A=1.0;let y=A;");
    }

    #[test]
    fn new_names_avoid_the_shaders_own() {
        // A and B are taken by the shader: the two renamed names get C and D, the more used first.
        let got =
            minify("const A: u32 = 1u; const B: u32 = 2u; fn first() -> u32 { let second = A; return second + B; }");
        assert_eq!(got, "const A:u32=1u;const B:u32=2u;fn D()->u32{let C=A;return C+B;}");
    }
}
