//! The Azure importer on the real JSON of ../shared/data/nsg: per file, the
//! NSGs and rules imported (counted by hand against the JSON for several),
//! the result passing what `nsg check` does (validation and compilation), the
//! TOML written loading back, and every service tag the templates use
//! resolving in the real ServiceTags file. Skips with a message when the
//! data folder is absent.

use nsg_azure::{import, ImportOptions, Imported, NoteKind};
use nsg_classify::nsg::CompiledPolicy;
use nsg_policy::toml_write::to_toml;
use nsg_policy::{LoadOptions, Side, Tag};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn data() -> Option<(PathBuf, PathBuf)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let nsg = shared.join("nsg");
    let tags = shared.join("servicetags/ServiceTags_Public_20251028.json");
    if nsg.is_dir() && tags.is_file() {
        Some((nsg, tags))
    } else {
        eprintln!(
            "skipping: {} is absent (the shared data folder is not here)",
            nsg.display()
        );
        None
    }
}

/// Import, then do what `nsg check` does, then write TOML and load it back.
fn import_checked(paths: &[PathBuf], tags: &Path, params: &[(&str, &str)]) -> Imported {
    let opts = ImportOptions {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        service_tags: vec![tags.to_path_buf()],
    };
    let i = match import(paths, &opts) {
        Ok(i) => i,
        Err(e) => panic!("{paths:?} does not import:\n{e}"),
    };
    let c = CompiledPolicy::build(Arc::new(i.policy.clone()));
    assert!(c.matcher_count() > 0 || i.policy.nsgs.is_empty() || i.policy.nics.is_empty());
    let mut raw = i.raw.clone();
    raw.service_tags = Some(tags.display().to_string());
    let text = to_toml(&raw, &[i.summary()]);
    let back = nsg_policy::load_str(&text, Path::new("imported.toml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{paths:?}: the TOML written does not load:\n{e}\n{text}"));
    assert_eq!(back.nsgs.len(), i.policy.nsgs.len());
    assert_eq!(back.user_rule_count(), i.policy.user_rule_count());
    assert_eq!(back.nics.len(), i.policy.nics.len());
    i
}

/// (file, NSGs, user rules, ASGs, NICs, items skipped)
type Row = (&'static str, usize, usize, usize, usize, usize);

const TEMPLATES: &[Row] = &[
    ("101-AAD-DomainServices__azuredeploy.json", 1, 4, 0, 0, 0),
    ("101-azure-bastion-nsg__azuredeploy.json", 1, 10, 0, 0, 0),
    (
        "101-azurefirewall-create-with-ipgroups-and-linux-jumpbox__azuredeploy.json",
        2,
        1,
        0,
        0,
        0,
    ),
    ("101-hdinsight-secure-vnet__azuredeploy.json", 1, 2, 0, 0, 0),
    (
        "101-load-balancer-standard-create__azuredeploy.json",
        1,
        1,
        0,
        0,
        0,
    ),
    ("101-security-group-create__azuredeploy.json", 1, 1, 0, 0, 0),
    (
        "101-sql-managed-instance-azure-environment__azuredeploy.json",
        1,
        8,
        0,
        0,
        0,
    ),
    ("101-sqlmi-new-vnet__azuredeploy.json", 1, 4, 0, 0, 0),
    ("101-vm-simple-linux__azuredeploy.json", 1, 1, 0, 0, 0),
    (
        "201-api-management-create-with-external-vnet__azuredeploy.json",
        1,
        18,
        0,
        0,
        0,
    ),
    (
        "201-api-management-create-with-internal-vnet__azuredeploy.json",
        1,
        18,
        0,
        0,
        0,
    ),
    (
        "201-application-gateway-2vms-iis-ssl__azuredeploy.json",
        2,
        6,
        0,
        2,
        0,
    ),
    (
        "201-application-security-group__azuredeploy.json",
        1,
        2,
        1,
        0,
        0,
    ),
    ("201-nsg-dmz-in-vnet__azuredeploy.json", 3, 9, 0, 0, 0),
    ("201-private-aks-cluster__azuredeploy.json", 2, 6, 0, 0, 0),
    // Every rule reads reference(): skipped and reported.
    ("201-redis-vnet-nsg__azuredeploy.json", 1, 0, 0, 0, 9),
    ("201-vm-win-iis-app-ssl__azuredeploy.json", 1, 3, 0, 0, 0),
    ("201-zerto-zca__azuredeploy.json", 1, 1, 0, 0, 0),
    ("301-dmz-nsg__azuredeploy.json", 1, 6, 0, 4, 0),
    (
        "301-multi-tier-service-networking__azuredeploy.json",
        3,
        12,
        0,
        5,
        0,
    ),
    (
        "App-Service-Environment-AzFirewall__nestedtemplates__vnet.json",
        1,
        17,
        0,
        0,
        0,
    ),
    (
        "application-gateway-logviewer-goaccess__azuredeploy.json",
        1,
        4,
        0,
        0,
        0,
    ),
    // Three rules name parameters without a default.
    (
        "azure-sql-managed-instance__nestedtemplates__vnet.json",
        1,
        2,
        0,
        0,
        3,
    ),
    // A copy loop counts a parameter without a default: NSG and NIC loops skipped.
    (
        "cohesive-vns3-free-multiclient-overlay-linux__azuredeploy.json",
        1,
        4,
        0,
        1,
        2,
    ),
    ("dlworkspace-deployment__azuredeploy.json", 1, 3, 0, 3, 0),
    ("iis-2vm-sql-1vm__azuredeploy.json", 2, 6, 0, 0, 0),
    ("ipv6-in-vnet__azuredeploy.json", 1, 4, 0, 0, 0),
    ("jenkins-cicd-webapp__nested__jenkins.json", 1, 3, 0, 1, 0),
    (
        "openvpn-access-server-ubuntu__azuredeploy.json",
        1,
        4,
        0,
        0,
        0,
    ),
    // Two rules name parameters without a default; 11 linked templates.
    ("sas-viya__azuredeploy.json", 3, 1, 5, 0, 13),
    (
        "service-fabric-secure-nsg-cluster-65-node-3-nodetype__azuredeploy.json",
        3,
        30,
        0,
        0,
        0,
    ),
    // The Bastion NSG's condition is false by default.
    ("sharepoint-adfs__azuredeploy.json", 3, 3, 0, 1, 0),
];

const OTHERS: &[Row] = &[
    (
        "batfish-azure-tests/NetworkInterfaceTest.json",
        0,
        0,
        0,
        0,
        0,
    ),
    // A second rule of the same name: skipped.
    (
        "batfish-azure-tests/NetworkSecurityGroupTest.json",
        1,
        1,
        0,
        0,
        1,
    ),
    ("batfish-azure-tests/SubnetTest.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/VNetTest.json", 0, 0, 0, 0, 0),
    // Priority 5 (Azure's minimum is 100): skipped.
    (
        "batfish-azure-tests/test-nsg/nsg-subnet2.json",
        1,
        0,
        0,
        0,
        1,
    ),
    ("batfish-azure-tests/test-nsg/nsg-vm2.json", 1, 2, 0, 0, 1),
    ("batfish-azure-tests/test-nsg/vm1.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vm1346.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vm2.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vm235.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vm3.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vm345.json", 0, 0, 0, 0, 0),
    ("batfish-azure-tests/test-nsg/vnet.json", 0, 0, 0, 0, 0),
    // The directory as one policy: VNet, NICs and both NSGs placed.
    ("batfish-azure-tests/test-nsg", 2, 2, 0, 3, 2),
    ("batfish-azure-tests", 3, 3, 0, 3, 3),
    (
        "azure-output-examples/rest-api-specs_2024-05-01_NetworkSecurityGroupGet.json",
        1,
        1,
        0,
        0,
        0,
    ),
];

fn check_row(base: &Path, tags: &Path, row: &Row) -> Imported {
    let (file, nsgs, rules, asgs, nics, skipped) = *row;
    let i = import_checked(&[base.join(file)], tags, &[]);
    let got = (
        i.policy.nsgs.len(),
        i.policy.user_rule_count(),
        i.policy.asgs.len(),
        i.policy.nics.len(),
        i.report.count(NoteKind::Skipped),
    );
    assert_eq!(
        got,
        (nsgs, rules, asgs, nics, skipped),
        "{file}: (nsgs, rules, asgs, nics, skipped)\n{}",
        i.report.lines(None).join("\n")
    );
    i
}

#[test]
fn arm_quickstart_templates() {
    let Some((nsg, tags)) = data() else { return };
    let dir = nsg.join("arm-quickstart-templates");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let listed: Vec<&str> = TEMPLATES.iter().map(|r| r.0).collect();
    assert_eq!(files, listed, "the table covers every template");
    assert_eq!(files.len(), 32);
    for row in TEMPLATES {
        check_row(&dir, &tags, row);
    }
}

#[test]
fn batfish_and_rest_examples() {
    let Some((nsg, tags)) = data() else { return };
    for row in OTHERS {
        check_row(&nsg, &tags, row);
    }
    // In the test-nsg directory the subnet NSG and the NIC NSG land where
    // Azure has them, whatever their (repeated) names.
    let i = import_checked(&[nsg.join("batfish-azure-tests/test-nsg")], &tags, &[]);
    let p = &i.policy;
    let vm2 = p.nic_by_name("vm235").unwrap();
    let subnet = &p.subnets[p.nics[vm2].subnet];
    assert_eq!(subnet.prefixes[0].to_string(), "10.0.1.0/24");
    assert_eq!(p.nsgs[subnet.nsg.unwrap()].name, "testNsgSubnet");
    assert_eq!(p.nsgs[p.nics[vm2].nsg.unwrap()].name, "testNsg");
}

#[test]
fn deployment_values_from_params_import_the_rest() {
    let Some((nsg, tags)) = data() else { return };
    let dir = nsg.join("arm-quickstart-templates");
    // The copy loop of NSGs, once its count is given.
    let i = import_checked(
        &[dir.join("cohesive-vns3-free-multiclient-overlay-linux__azuredeploy.json")],
        &tags,
        &[("numberOfInstances", "2")],
    );
    assert_eq!((i.policy.nsgs.len(), i.policy.user_rule_count()), (3, 6));
    // The Bastion NSG, once its condition holds.
    let i = import_checked(
        &[dir.join("sharepoint-adfs__azuredeploy.json")],
        &tags,
        &[("addAzureBastion", "Yes")],
    );
    assert_eq!(i.policy.nsgs.len(), 4);
    // Addresses given: every rule of the SQL MI template.
    let i = import_checked(
        &[dir.join("azure-sql-managed-instance__nestedtemplates__vnet.json")],
        &tags,
        &[
            ("managedInstanceSubnetAddressRange", "10.0.0.0/24"),
            ("vnetAddressRange", "10.0.0.0/16"),
        ],
    );
    assert_eq!(i.policy.user_rule_count(), 5);
    assert_eq!(i.report.count(NoteKind::Skipped), 0);
    // The trailing space of a real port range is ignored.
    let i = import_checked(
        &[dir.join("201-application-gateway-2vms-iis-ssl__azuredeploy.json")],
        &tags,
        &[],
    );
    let ports: Vec<String> = i
        .policy
        .nsgs
        .iter()
        .flat_map(|g| g.inbound.iter())
        .map(|r| r.destination_ports.to_string())
        .collect();
    assert!(ports.contains(&"65503-65534".to_string()), "{ports:?}");
}

#[test]
fn the_real_service_tags_file_resolves_every_tag_the_templates_use() {
    let Some((nsg, tags)) = data() else { return };
    let dir = nsg.join("arm-quickstart-templates");
    let mut used = BTreeSet::new();
    let mut runs: Vec<(PathBuf, Vec<(&str, &str)>)> = TEMPLATES
        .iter()
        .map(|r| (dir.join(r.0), Vec::new()))
        .collect();
    // Its SqlManagement rule needs an address parameter.
    runs.push((
        dir.join("azure-sql-managed-instance__nestedtemplates__vnet.json"),
        vec![("managedInstanceSubnetAddressRange", "10.0.0.0/24")],
    ));
    for (file, params) in runs {
        let i = import_checked(std::slice::from_ref(&file), &tags, &params);
        for n in &i.report.notes {
            assert!(
                !n.message.contains("service tag"),
                "{}: a tag did not resolve: {n}",
                file.display()
            );
        }
        for g in &i.policy.nsgs {
            for r in g.inbound.iter().chain(&g.outbound) {
                for s in [&r.source, &r.destination] {
                    if let Side::Tag(Tag::Service(t)) = s {
                        assert!(!t.prefixes.is_empty(), "{} has no prefixes", t.name);
                        used.insert(t.name.clone());
                    }
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "ApiManagement",
        "AppServiceManagement",
        "AzureActiveDirectory",
        "AzureCloud",
        "AzureKeyVault",
        "AzureMonitor",
        "EventHub",
        "GatewayManager",
        "HDInsight",
        "Sql",
        "SqlManagement",
        "Storage",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(used, expected);
}

#[test]
fn without_a_tags_file_tag_rules_are_skipped_and_say_why() {
    let Some((nsg, _)) = data() else { return };
    let f = nsg.join("arm-quickstart-templates/101-azure-bastion-nsg__azuredeploy.json");
    let i = import(&[f], &ImportOptions::default()).unwrap();
    let tag_notes: Vec<String> = i.report.lines(Some(NoteKind::Skipped));
    // AzureCloud and GatewayManager rules.
    assert_eq!(tag_notes.len(), 2, "{tag_notes:#?}");
    assert!(tag_notes.iter().all(|n| n.contains("pass --service-tags")));
    assert_eq!(i.policy.user_rule_count(), 8);
}
