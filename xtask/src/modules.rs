//! `cargo xtask modules`: no import circle among the modules of any crate of the workspace.
//!
//! A module is a file (`lib.rs`/`main.rs` the root, `a.rs` and `a/mod.rs` the module `a`, `a/b.rs`
//! `a::b`). Module `A` depends on `B` when `A`'s code names a path that resolves to `B`
//! (`crate::b::…`, `super::…`, `self::…`, in `use` trees too), whether it names `B` itself or an
//! item in it; `mod` declarations are not dependencies (a parent owns its children). Paths are
//! resolved to the deepest file module they reach; an item re-exported by a parent therefore
//! counts as the parent's. A circle is a set of modules that all reach each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::summary::Outcome;
use crate::workspace::root;

/// The source folders of the workspace's crates.
const CRATES: [&str; 5] = ["shared/src", "origin/src", "edge/src", "xtask/src", "conformance/src"];

type Module = Vec<String>;

pub fn check() -> Result<Outcome> {
    let mut circles = Vec::new();
    let mut counted = 0;
    for src in CRATES {
        let graph = graph(&root().join(src))?;
        counted += graph.len();
        for circle in circles_of(&graph) {
            let names: Vec<String> = circle.iter().map(|m| display(src, m)).collect();
            circles.push(names.join(" <-> "));
        }
    }
    if circles.is_empty() {
        Ok(Outcome::Passed(Some(format!("{counted} modules, no import circle"))))
    } else {
        Err(Error::failed(format!("import circles:\n  {}", circles.join("\n  "))))
    }
}

fn display(src: &str, module: &Module) -> String {
    if module.is_empty() { format!("{src} (root)") } else { format!("{src}: {}", module.join("::")) }
}

/// Every file module of the crate in `src`, with the modules it depends on.
fn graph(src: &Path) -> Result<BTreeMap<Module, BTreeSet<Module>>> {
    let mut files = BTreeMap::new();
    collect(src, src, &mut files)?;
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let mut uses = BTreeSet::new();
        for (base, path) in paths(&strip(text), module) {
            let target = resolve(&modules, base, &path);
            if target != *module {
                uses.insert(target);
            }
        }
        graph.insert(module.clone(), uses);
    }
    Ok(graph)
}

fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<Module, String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).context(|| format!("reading {}", dir.display()))? {
        let path = entry.context(|| "reading a directory entry".to_owned())?.path();
        if path.is_dir() {
            collect(src, &path, files)?;
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
        let mut module: Module = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
        files.insert(module, text);
    }
    Ok(())
}

/// The deepest module of `modules` that `base` followed by `path`'s segments reaches.
fn resolve(modules: &BTreeSet<Module>, mut current: Module, path: &[String]) -> Module {
    for segment in path {
        current.push(segment.clone());
        if !modules.contains(&current) {
            current.pop();
            break;
        }
    }
    current
}

/// The source without comments, string and character literals, so only code is read.
fn strip(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].bytes().take_while(|b| *b == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let open = 2 + hashes;
            i += rest[open..].find(&close).map_or(rest.len(), |end| open + end + close.len());
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            i += (j + 1).min(rest.len());
            out.push_str("\"\"");
        } else if let Some(len) = char_literal(rest) {
            i += len;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of a character literal at the start of `rest` (`'a'`, `'\n'`, `'\''`), or `None`
/// for a lifetime or anything else.
fn char_literal(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, first) = chars.next()?;
    if first == '\\' {
        let close = rest[2..].find('\'')?;
        return Some(2 + close + 1);
    }
    let (at, second) = chars.next()?;
    (second == '\'').then_some(at + 1)
}

/// Every path that starts at `crate`, `super` or `self` in `code` of `module`, expanded from `use`
/// trees: the module it starts from and its segments. Code inside an inline `mod x { … }` resolves
/// `super` to the file's module.
fn paths(code: &str, module: &Module) -> Vec<(Module, Vec<String>)> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut inline_depths: Vec<usize> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline_depths.last() == Some(&depth) {
                    inline_depths.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => inline_depths.push(depth),
            start @ ("crate" | "super" | "self") if tokens.get(i + 1).is_some_and(|t| t == "::") => {
                let previous = i.checked_sub(1).map(|p| tokens[p].as_str());
                // `x::self::…` and `x::super::…` continue a path that this scan already read.
                if previous != Some("::") {
                    let inline = !inline_depths.is_empty();
                    let mut base = match start {
                        "crate" => Vec::new(),
                        "self" => module.clone(),
                        _ if inline => module.clone(),
                        _ => parent(module),
                    };
                    let mut j = i + 2;
                    while tokens.get(j).is_some_and(|t| t == "super") && tokens.get(j + 1).is_some_and(|t| t == "::") {
                        base = parent(&base);
                        j += 2;
                    }
                    let mut trees = Vec::new();
                    let end = use_tree(&tokens, j, Vec::new(), &mut trees);
                    found.extend(trees.into_iter().map(|path| (base.clone(), path)));
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn parent(module: &Module) -> Module {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// Reads a path or `use` tree from `tokens[at]`: `a::b`, `a::{b, c::d}`, `*`. Pushes every full
/// path to `out`; returns where it ended.
fn use_tree(tokens: &[String], mut at: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    loop {
        match tokens.get(at).map(String::as_str) {
            Some("{") => {
                at += 1;
                loop {
                    // A trailing comma leaves `}` where the next tree would start.
                    if tokens.get(at).is_some_and(|t| t == "}") {
                        return at + 1;
                    }
                    at = use_tree(tokens, at, prefix.clone(), out);
                    match tokens.get(at).map(String::as_str) {
                        Some(",") => at += 1,
                        Some("}") => return at + 1,
                        _ => return at,
                    }
                }
            }
            Some(word) if is_ident(word) && word != "self" => {
                prefix.push(word.to_owned());
                at += 1;
                if tokens.get(at).is_some_and(|t| t == "::") {
                    at += 1;
                    continue;
                }
                out.push(prefix);
                return renamed(tokens, at);
            }
            _ => {
                // `*`, `self`, or the end of the path.
                out.push(prefix);
                return renamed(tokens, at + usize::from(tokens.get(at).is_some_and(|t| t == "*" || t == "self")));
            }
        }
    }
}

/// Past an `as name` at `at`, if there is one (`{self as store, Factor}`).
fn renamed(tokens: &[String], at: usize) -> usize {
    if tokens.get(at).is_some_and(|t| t == "as") { at + 2 } else { at }
}

fn is_ident(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::`, and single punctuation characters.
fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(at, next)) = chars.peek() {
                if !(next.is_alphanumeric() || next == '_') {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
            tokens.push(code[start..end].to_owned());
        } else if c == ':' && chars.peek().is_some_and(|&(_, next)| next == ':') {
            chars.next();
            tokens.push("::".to_owned());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// The circles of `graph`: its strongly connected components of more than one module (Tarjan).
fn circles_of(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Search<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        circles: Vec<Vec<Module>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, module: &'a Module) {
            let n = self.index.len();
            self.index.insert(module, n);
            self.low.insert(module, n);
            self.stack.push(module);
            self.on_stack.insert(module);
            for next in self.graph.get(module).into_iter().flatten() {
                let Some((next, _)) = self.graph.get_key_value(next) else { continue };
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[module].min(self.low[next]);
                    self.low.insert(module, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[module].min(self.index[next]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.clone());
                    if member == module {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.circles.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module) {
            search.visit(module);
        }
    }
    search.circles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Module {
        path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    fn deps(code: &str, of: &str, known: &[&str]) -> BTreeSet<Module> {
        let modules: BTreeSet<Module> = known.iter().map(|m| module(m)).collect();
        let me = module(of);
        paths(&strip(code), &me)
            .into_iter()
            .map(|(base, path)| resolve(&modules, base, &path))
            .filter(|target| *target != me)
            .collect()
    }

    #[test]
    fn use_trees_supers_and_inline_paths_resolve_to_file_modules() {
        let known = ["", "http", "http::auth", "http::error", "db", "db::users"];
        let code = r#"
            use super::error::ApiError;
            use crate::{db::users::{self, User}, state::AppState};
            // use crate::http::nothing; (a comment)
            fn f() { let _ = "crate::db::users"; crate::db::users::list(); }
            #[cfg(test)]
            mod tests { use super::*; }
        "#;
        let found = deps(code, "http::auth", &known);
        let expected: BTreeSet<Module> = [module("http::error"), module("db::users"), module("")].into();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_renamed_import_keeps_the_braces_balanced() {
        let known = ["", "auth", "auth::mfa", "db", "db::mfa", "db::sessions"];
        let code = r#"
            use crate::db::mfa::{self as store, Factor};
            use crate::db::{sessions as session_store};
            fn f() { if true { store::x(); } }
            mod tests { use super::*; }
        "#;
        let found = deps(code, "auth::mfa", &known);
        let expected: BTreeSet<Module> = [module("db::mfa"), module("db::sessions")].into();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_circle_is_found_and_a_chain_is_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
            for (from, to) in edges {
                graph.entry(module(from)).or_default().insert(module(to));
                graph.entry(module(to)).or_default();
            }
            graph
        };
        assert!(circles_of(&graph(&[("a", "b"), ("b", "c")])).is_empty());
        let circles = circles_of(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]));
        assert_eq!(circles, vec![vec![module("a"), module("b"), module("c")]]);
    }
}
