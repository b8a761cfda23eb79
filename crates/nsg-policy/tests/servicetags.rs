//! The real Azure ServiceTags file of ../shared/data (skips with a message
//! when the data folder is absent).

use nsg_policy::tags::ServiceTagsFile;
use nsg_policy::{load_str, LoadOptions, Side, Tag};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn public_tags() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/servicetags/ServiceTags_Public_20251028.json");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} is absent (the shared data folder is not here)",
            p.display()
        );
        None
    }
}

#[test]
fn loads_the_public_file() {
    let Some(path) = public_tags() else { return };
    let t0 = Instant::now();
    let f = ServiceTagsFile::load(&path).expect("the real file loads");
    eprintln!(
        "loaded {} tags, {} prefixes in {:?}",
        f.len(),
        f.prefix_count(),
        t0.elapsed()
    );
    assert_eq!(f.len(), 3039);
    assert_eq!(f.prefix_count(), 93362);
    assert_eq!(f.cloud, "Public");
    let s = f.get("storage.westus").expect("regional tag");
    assert_eq!(s.name, "Storage.WestUS");
    assert!(!s.prefixes.is_empty());
    assert!(f.get("AZURECLOUD").is_some());
    let arm = f.get("AzureResourceManager.NorwayEast").unwrap();
    assert!(!arm.usable_in_nsg());
}

fn policy_with_destination(dest: &str, tags: &Path) -> Result<nsg_policy::Policy, String> {
    let text = format!(
        r#"
service_tags = "{}"
[[vnet]]
name = "V1"
address_space = ["10.0.0.0/16"]
[[subnet]]
name = "S"
vnet = "V1"
prefixes = ["10.0.1.0/24"]
nsg = "G"
[[nic]]
name = "N"
subnet = "S"
ips = ["10.0.1.4"]
[[nsg]]
name = "G"
[[nsg.rule]]
name = "ToTag"
priority = 100
direction = "outbound"
access = "deny"
protocol = "tcp"
source = "*"
destination = "{dest}"
destination_ports = 443
"#,
        tags.display()
    );
    load_str(&text, Path::new("tags.toml"), &LoadOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn policies_resolve_real_tags() {
    let Some(path) = public_tags() else { return };
    let p = policy_with_destination("storage.westus", &path).expect("regional tag resolves");
    let rule = &p.nsgs[0].outbound[0];
    match &rule.destination {
        Side::Tag(Tag::Service(t)) => assert_eq!(t.name, "Storage.WestUS"),
        other => panic!("unexpected side {other:?}"),
    }
    assert_eq!(p.tag_files.len(), 1);
    assert_eq!(p.tag_files[0].1, 3039);

    let e = policy_with_destination("NoSuchTag.Anywhere", &path).unwrap_err();
    assert!(
        e.contains("unknown service tag or ASG 'NoSuchTag.Anywhere'"),
        "{e}"
    );

    let e = policy_with_destination("AzureResourceManager.NorwayEast", &path).unwrap_err();
    assert!(
        e.contains("AzureResourceManager.NorwayEast") && e.contains("NSG"),
        "{e}"
    );
}

#[test]
fn extra_tags_file_from_options() {
    let Some(path) = public_tags() else { return };
    let text = r#"
[[vnet]]
name = "V1"
address_space = ["10.0.0.0/16"]
[[nsg]]
name = "G"
[[nsg.rule]]
name = "Sql"
priority = 100
direction = "outbound"
access = "allow"
protocol = "tcp"
source = "*"
destination = "Sql"
destination_ports = 1433
"#;
    let without = load_str(text, Path::new("x.toml"), &LoadOptions::default()).unwrap_err();
    assert!(without
        .to_string()
        .contains("no service tags file is loaded"));
    let opts = LoadOptions {
        service_tags: vec![path],
    };
    let p = load_str(text, Path::new("x.toml"), &opts).expect("tag from --service-tags");
    assert_eq!(p.tag_files.len(), 1);
}
