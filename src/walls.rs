//! Holds the floors of `ARCHITECTURE.md`: every top-level module is on the map, uses only modules
//! on its own floor or below, and no two modules import each other (directly or around a loop).
//! The map is read from the file itself, so it cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where module names start on a line of the map's code block.
const NAME_COLUMN: usize = 9;

/// Top-level module name -> floor, from the code block of `ARCHITECTURE.md`.
fn floors(map: &str) -> BTreeMap<String, u32> {
    let block = map.split("```").nth(1).expect("ARCHITECTURE.md has a code block");
    let mut floors = BTreeMap::new();
    let mut floor = None;
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("floor ") {
            floor = rest.split_whitespace().next().and_then(|n| n.parse::<u32>().ok());
        }
        // Names end at the first double space; sub-items (indented further) and descriptions
        // continued on the next line name nothing.
        let column = line.get(NAME_COLUMN..).unwrap_or_default();
        let names = column.split("  ").next().unwrap_or_default();
        if column.starts_with(' ') || names.is_empty() {
            continue;
        }
        let names: Vec<&str> = names
            .split([',', ' '])
            .filter(|n| !n.is_empty() && *n != "(crate)")
            .collect();
        // A line of prose (the floor's heading) names no module.
        if !names.iter().all(|n| n.ends_with('/') || n.ends_with(".rs")) {
            continue;
        }
        let floor = floor.expect("a module line before the first floor");
        for name in names {
            let name = name.trim_end_matches('/').trim_end_matches(".rs");
            floors.insert(name.to_string(), floor);
        }
    }
    floors
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules a file's non-test code names as `crate::x` or `use crate::{x, ..}`.
fn imports(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let group = rest
                .strip_prefix('{')
                .map(|g| g.split('}').next().unwrap_or_default());
            let heads: Vec<&str> = match group {
                Some(group) => group.split(',').collect(),
                None => vec![rest],
            };
            for head in heads {
                let name: String = head
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// Module -> the other top-level modules it uses.
fn graph(src: &Path, modules: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for module in modules {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        rust_files(&src.join(format!("{module}.rs")), &mut files);
        let uses: BTreeSet<String> = files
            .iter()
            .flat_map(|f| imports(&std::fs::read_to_string(f).unwrap()))
            .filter(|m| m != module && modules.contains(m))
            .collect();
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A module on a loop of imports, with the loop, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The service's own top-level modules, as `lib.rs` declares them.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').to_string())
        .filter(|m| m != "walls")
        .collect()
}

#[test]
fn the_map_places_every_module_and_imports_only_go_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let floors = floors(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let modules = declared_modules(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap());
    let unmapped: Vec<_> = modules.iter().filter(|m| !floors.contains_key(*m)).collect();
    assert!(unmapped.is_empty(), "add {unmapped:?} to ARCHITECTURE.md's map");

    let graph = graph(&root.join("src"), &modules);
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(m, uses)| uses.iter().map(move |u| (m, u)))
        .filter(|(m, u)| floors[*u] > floors[*m])
        .map(|(m, u)| format!("{m} (floor {}) uses {u} (floor {})", floors[m], floors[u]))
        .collect();
    assert!(upward.is_empty(), "imports that go up a floor: {upward:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules import each other: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        imports("use crate::{auth::A, store};\nlet x = crate::error::E; // crate::ops\n"),
        ["auth", "error", "store"].map(String::from).into()
    );
    let map = "```\nfloor 2  a/, b.rs                     text\n         c/                           text\n                                      more text\nfloor 1  some prose (with words)\n         d/  (crate)                  text\n           e.rs                       a sub-item\n```";
    assert_eq!(
        floors(map),
        [("a", 2), ("b", 2), ("c", 2), ("d", 1)]
            .map(|(m, f)| (m.to_string(), f))
            .into()
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .map(|(m, u)| (m.to_string(), [u.to_string()].into()))
        .into();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}
