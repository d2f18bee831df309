//! A small view of a parsed Bicep file (the tree-sitter-bicep grammar), and the files under
//! `infra/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tree_sitter::{Node, Parser, Tree};

/// A parsed Bicep file: its path, its text and its syntax tree.
pub(super) struct Bicep {
    path: PathBuf,
    /// The file's text.
    pub(super) src: String,
    tree: Tree,
}

/// A `param` declaration.
pub(super) struct Param<'t> {
    /// The parameter's name.
    pub(super) name: String,
    /// Its default value, when it has one.
    pub(super) default: Option<Node<'t>>,
    /// The decorators written above it (`@secure()`, `@description(...)`, …).
    pub(super) decorators: Vec<String>,
}

/// A `resource` declaration.
pub(super) struct Resource<'t> {
    /// The symbolic name.
    pub(super) symbol: String,
    /// `Microsoft.X/y@version`.
    pub(super) type_name: String,
    existing: bool,
    /// The body object.
    pub(super) body: Node<'t>,
}

/// Parses Bicep source with the tree-sitter grammar.
pub(super) fn parse_source(src: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_bicep::LANGUAGE.into())
        .expect("the bicep grammar loads");
    parser.parse(src, None).expect("parse")
}

impl Bicep {
    /// Reads and parses one file.
    pub(super) fn load(path: &Path) -> Bicep {
        let src =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let tree = parse_source(&src);
        Bicep {
            path: path.to_path_buf(),
            src,
            tree,
        }
    }

    /// The file's path, for messages.
    pub(super) fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The source text of a node.
    pub(super) fn text(&self, node: Node) -> &str {
        &self.src[node.byte_range()]
    }

    /// The root of the syntax tree.
    pub(super) fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// Top-level declarations of one kind, each with the decorators written above it.
    pub(super) fn declarations(&self, kind: &str) -> Vec<(Node<'_>, Vec<String>)> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let root = self.root();
        for i in 0..root.named_child_count() {
            let node = root.named_child(i as u32).unwrap();
            match node.kind() {
                "decorators" => {
                    for d in named_children(node) {
                        pending.push(self.text(d).to_string());
                    }
                }
                "comment" => {}
                k => {
                    if k == kind {
                        out.push((node, std::mem::take(&mut pending)));
                    } else {
                        pending.clear();
                    }
                }
            }
        }
        out
    }

    /// Every `param` declaration.
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        self.declarations("parameter_declaration")
            .into_iter()
            .map(|(node, decorators)| {
                let children = named_children(node);
                Param {
                    name: self.text(children[0]).to_string(),
                    default: children.get(2).copied(),
                    decorators,
                }
            })
            .collect()
    }

    /// The declared type of the `param` called `name` (`string`, `int`, …).
    pub(super) fn param_type(&self, name: &str) -> String {
        self.declarations("parameter_declaration")
            .into_iter()
            .map(|(n, _)| named_children(n))
            .find(|c| self.text(c[0]) == name)
            .map(|c| self.text(c[1]).to_string())
            .unwrap_or_else(|| panic!("no param {name}"))
    }

    /// The `param` called `name`.
    pub(super) fn param(&self, name: &str) -> Option<Param<'_>> {
        self.params().into_iter().find(|p| p.name == name)
    }

    /// The value of the `var` called `name`.
    pub(super) fn variable(&self, name: &str) -> Option<Node<'_>> {
        self.declarations("variable_declaration")
            .into_iter()
            .map(|(n, _)| named_children(n))
            .find(|c| self.text(c[0]) == name)
            .map(|c| c[1])
    }

    /// Every `output`: name → value text.
    pub(super) fn outputs(&self) -> BTreeMap<String, String> {
        self.declarations("output_declaration")
            .into_iter()
            .map(|(n, _)| {
                let c = named_children(n);
                (
                    self.text(c[0]).to_string(),
                    self.text(*c.last().unwrap()).to_string(),
                )
            })
            .collect()
    }

    /// Every `resource` declaration, `existing` references included.
    pub(super) fn resources(&self) -> Vec<Resource<'_>> {
        self.declarations("resource_declaration")
            .into_iter()
            .map(|(node, _)| {
                let children = named_children(node);
                let mut cursor = node.walk();
                let existing = node.children(&mut cursor).any(|c| c.kind() == "existing");
                let body = descendants(node)
                    .into_iter()
                    .find(|n| n.kind() == "object")
                    .expect("resource body");
                Resource {
                    symbol: self.text(children[0]).to_string(),
                    type_name: self.string(children[1]).expect("resource type"),
                    existing,
                    body,
                }
            })
            .collect()
    }

    /// The resources of one type this file declares (not `existing` references).
    pub(super) fn resources_of(&self, type_prefix: &str) -> Vec<Resource<'_>> {
        self.resources()
            .into_iter()
            .filter(|r| !r.existing && r.type_name.starts_with(&format!("{type_prefix}@")))
            .collect()
    }

    /// The value of the property `key` directly inside `object`.
    pub(super) fn prop<'t>(&self, object: Node<'t>, key: &str) -> Option<Node<'t>> {
        named_children(object)
            .into_iter()
            .filter(|p| p.kind() == "object_property")
            .find(|p| self.key(*p) == key)
            .map(|p| *named_children(p).last().unwrap())
    }

    /// Follows a path of property names from `object`.
    pub(super) fn path<'t>(&self, object: Node<'t>, keys: &[&str]) -> Option<Node<'t>> {
        keys.iter()
            .try_fold(object, |node, key| self.prop(node, key))
    }

    /// The key of an object property, unquoted.
    pub(super) fn key(&self, property: Node) -> String {
        let key = named_children(property)[0];
        self.string(key)
            .unwrap_or_else(|| self.text(key).to_string())
    }

    /// Every object property in the file: (key, value).
    pub(super) fn properties(&self) -> Vec<(String, Node<'_>)> {
        descendants(self.root())
            .into_iter()
            .filter(|n| n.kind() == "object_property")
            .map(|p| (self.key(p), *named_children(p).last().unwrap()))
            .collect()
    }

    /// The literal value of a string without interpolation.
    pub(super) fn string(&self, node: Node) -> Option<String> {
        if node.kind() != "string"
            || named_children(node)
                .iter()
                .any(|c| c.kind() == "interpolation")
        {
            return None;
        }
        let raw = self.text(node);
        let inner = &raw[1..raw.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        Some(out)
    }
}

/// The named children of a node, in order.
pub(super) fn named_children(node: Node) -> Vec<Node> {
    (0..node.named_child_count())
        .map(|i| node.named_child(i as u32).unwrap())
        .collect()
}

/// A node and every named node under it, in document order.
pub(super) fn descendants(node: Node) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut children = named_children(n);
        children.reverse();
        stack.extend(children);
    }
    out
}

/// Every `.bicep` file under `infra/`, sorted.
pub(super) fn bicep_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("infra"), &mut out);
    out.sort();
    out
}

/// Loads one file and asserts it parses.
pub(super) fn load(path: &str) -> Bicep {
    let file = Bicep::load(Path::new(path));
    assert!(!file.root().has_error(), "{path} does not parse");
    file
}

/// Every Bicep file under `infra/`, parsed.
pub(super) fn all_files() -> Vec<Bicep> {
    bicep_files().iter().map(|p| Bicep::load(p)).collect()
}

/// `infra/main.parameters.json`.
pub(super) fn parameters_json() -> Value {
    let text = std::fs::read_to_string("infra/main.parameters.json").unwrap();
    serde_json::from_str(&text).expect("infra/main.parameters.json is JSON")
}
