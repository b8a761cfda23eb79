//! `nsg lint` on the four `config/` scenarios and on the Azure quickstart
//! templates of the shared data folder (imported with the real service
//! tags file), each with its findings asserted: codes, NSGs, rules, NICs.
//! The templates are skipped with a message when the folder is absent.

use nsg_analysis::lint::{lint, Finding};
use nsg_azure::{import, ImportOptions};
use nsg_policy::{LoadOptions, Policy};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config(name: &str) -> Policy {
    let path = root().join("config").join(name);
    nsg_policy::load(&path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name} does not load: {e}"))
}

/// Each finding as `code NSG/RULE [NICS]` (`-` for a missing NSG or rule).
fn summary(policy: &Policy, findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let j = f.to_json(policy);
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
            let nics: Vec<&str> = f
                .nics
                .iter()
                .map(|&n| policy.nics[n].name.as_str())
                .collect();
            format!(
                "{} {}/{} [{}]",
                f.code.name(),
                s(&j["nsg"]),
                s(&j["rule"]),
                nics.join(",")
            )
        })
        .collect()
}

#[test]
fn layering_gives_the_two_layer_conflicts_at_vm1_and_the_open_vm4() {
    let p = config("layering.toml");
    let f = lint(&p);
    assert_eq!(
        summary(&p, &f),
        [
            "exposed -/- [VM4]",
            "layer-conflict NSG1/Allow-8080-Inbound-Internet [VM1]",
            "layer-conflict NSG2/Allow-8443-Inbound-Internet [VM1]",
        ]
    );
    let j = nsg_analysis::lint::to_json(&p, &f);
    assert_eq!(
        j["findings"][1]["denied_by"],
        serde_json::json!(["NSG2/DenyAllInBound"])
    );
    assert_eq!(
        j["findings"][2]["denied_by"],
        serde_json::json!(["NSG1/DenyAllInBound"])
    );
    for x in j["findings"].as_array().unwrap() {
        assert!(x["witness"].is_object(), "no witness: {x}");
    }
}

#[test]
fn the_other_scenarios() {
    let p = config("layered-backend.toml");
    assert_eq!(summary(&p, &lint(&p)), ["exposed -/- [jumpbox]"]);
    for name in ["payroll.toml", "three-tier.toml"] {
        let p = config(name);
        assert_eq!(summary(&p, &lint(&p)), Vec::<String>::new(), "{name}");
    }
}

/// The shared data folder's templates and tags file, if present: beside
/// the repository (`../shared/data`, as the other data tests find it), or
/// where `NSG_SHARED_DATA` points.
fn data() -> Option<(PathBuf, PathBuf)> {
    let shared = std::env::var_os("NSG_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    let dir = shared.join("nsg/arm-quickstart-templates");
    let tags = shared.join("servicetags/ServiceTags_Public_20251028.json");
    if dir.is_dir() && tags.is_file() {
        Some((dir, tags))
    } else {
        eprintln!(
            "skipping: {} is absent (the shared data folder is not here)",
            dir.display()
        );
        None
    }
}

/// (template, findings as [`summary`] writes them)
/// Templates not listed have no finding.
const TEMPLATES: &[(&str, &[&str])] = &[
    (
        "101-azurefirewall-create-with-ipgroups-and-linux-jumpbox__azuredeploy.json",
        &["unmatchable JumpHostNSG/- []"],
    ),
    (
        "101-load-balancer-standard-create__azuredeploy.json",
        &["unmatchable param-projectName-nsg/- []"],
    ),
    (
        "101-vm-simple-linux__azuredeploy.json",
        &["unmatchable SecGroupNet/- []"],
    ),
    (
        "201-application-gateway-2vms-iis-ssl__azuredeploy.json",
        &[
            "exposed WebNSG/AllowRDP [vm1Nic,vm2Nic]",
            "redundant WebNSG/Allow80 [vm1Nic,vm2Nic]",
            "redundant WebNSG/Allow443 [vm1Nic,vm2Nic]",
        ],
    ),
    (
        "201-application-security-group__azuredeploy.json",
        &[
            "unmatchable webNsg/AllowHttpAll []",
            "unmatchable webNsg/AllowSshAll []",
        ],
    ),
    (
        "201-redis-vnet-nsg__azuredeploy.json",
        &["unmatchable param-newNsgName/- []"],
    ),
    (
        "201-zerto-zca__azuredeploy.json",
        &["unmatchable zca-nsg/- []"],
    ),
    (
        "301-dmz-nsg__azuredeploy.json",
        &["exposed myVNetNSG/enable_rdp_rule [IIS01_NIC,AppVM01_NIC,AppVM02_NIC,DNS01_NIC]"],
    ),
    (
        "301-multi-tier-service-networking__azuredeploy.json",
        &[
            "exposed AppNSG/rdp_rule [appNic0,appNic1]",
            "redundant AppNSG/DB_outbound_rule [appNic0,appNic1]",
        ],
    ),
    (
        "App-Service-Environment-AzFirewall__nestedtemplates__vnet.json",
        &["unmatchable param-aseNSGName/- []"],
    ),
    (
        "application-gateway-logviewer-goaccess__azuredeploy.json",
        &["unmatchable uniquestring-5ed7158d_nsg/- []"],
    ),
    (
        "azure-sql-managed-instance__nestedtemplates__vnet.json",
        &["unmatchable param-managedInstanceNsgName/- []"],
    ),
    (
        "cohesive-vns3-free-multiclient-overlay-linux__azuredeploy.json",
        &["redundant VNS3Controller-nsg/VNS3_UDP_1194 [vns3controller-nic]"],
    ),
    (
        "ipv6-in-vnet__azuredeploy.json",
        &["unmatchable dsNsg/- []"],
    ),
    (
        "jenkins-cicd-webapp__nested__jenkins.json",
        &["exposed JenkinsNSG/ssh-rule [JenkinsVMNic]"],
    ),
    (
        "openvpn-access-server-ubuntu__azuredeploy.json",
        &["unmatchable OpenVPN-NSG/- []"],
    ),
    (
        "sas-viya__azuredeploy.json",
        &[
            "unmatchable PrimaryViyaLoadbalancer_NetworkSecurityGroup/- []",
            "unmatchable AnsibleController_NetworkSecurityGroup/- []",
            "unmatchable Viya_NetworkSecurityGroup/- []",
        ],
    ),
    (
        "sharepoint-adfs__azuredeploy.json",
        &["exposed NSG-Subnet-DC/allow-rdp-rule [NIC-DC-0]"],
    ),
];

#[test]
fn imported_templates() {
    let Some((dir, tags)) = data() else { return };
    let opts = ImportOptions {
        params: Vec::new(),
        service_tags: vec![tags],
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut wrong = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let i = import(std::slice::from_ref(&path), &opts)
            .unwrap_or_else(|e| panic!("{name} does not import: {e}"));
        let got = summary(&i.policy, &lint(&i.policy));
        let want: Vec<&str> = TEMPLATES
            .iter()
            .find(|t| t.0 == name)
            .map(|t| t.1.to_vec())
            .unwrap_or_default();
        if got != want {
            wrong.push(format!("(\"{name}\", &{got:?}),"));
        }
    }
    assert!(wrong.is_empty(), "findings differ:\n{}", wrong.join("\n"));
}
