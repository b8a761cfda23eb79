//! The Azure JSON importer on hand-written inputs in the shapes Azure writes:
//! `az network {vnet,nic,nsg,asg} list` (flattened), API resources
//! (`properties`), ARM templates; and malformed JSON.

use nsg_azure::{import, ImportOptions, Imported, NoteKind};
use nsg_policy::{evaluate, Access, Direction, Packet, Side};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nsg-azure-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(d: &Path, name: &str, text: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(paths: &[PathBuf]) -> Imported {
    match import(paths, &ImportOptions::default()) {
        Ok(i) => i,
        Err(e) => panic!("import failed:\n{e}"),
    }
}

fn notes(i: &Imported) -> String {
    i.report.lines(None).join("\n")
}

const VNETS: &str = r#"[
  {
    "id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/VNet1",
    "name": "VNet1",
    "type": "Microsoft.Network/virtualNetworks",
    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
    "subnets": [
      {
        "id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/default",
        "name": "default",
        "addressPrefix": "10.0.1.0/24",
        "networkSecurityGroup": {"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/SubnetNsg"}
      }
    ],
    "virtualNetworkPeerings": [
      {"name": "to2", "peeringState": "Connected",
       "remoteVirtualNetwork": {"id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/VNet2"}}
    ]
  },
  {
    "id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/VNet2",
    "name": "VNet2",
    "type": "Microsoft.Network/virtualNetworks",
    "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
    "subnets": [
      {"id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/VNet2/subnets/default",
       "name": "default", "addressPrefix": "10.1.1.0/24"}
    ],
    "virtualNetworkPeerings": [
      {"name": "to1", "peeringState": "Connected",
       "remoteVirtualNetwork": {"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/VNet1"}}
    ]
  }
]"#;

const NICS: &str = r#"[
  {
    "id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/web1",
    "name": "web1",
    "type": "Microsoft.Network/networkInterfaces",
    "ipConfigurations": [
      {"name": "ipconfig1", "primary": true, "privateIpAddress": "10.0.1.4",
       "privateIpAllocationMethod": "Dynamic",
       "subnet": {"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/default"},
       "applicationSecurityGroups": [{"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/AsgWeb"}]},
      {"name": "ipconfig2", "privateIpAddress": "10.0.1.5",
       "subnet": {"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/default"}}
    ]
  },
  {
    "id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/networkInterfaces/db1",
    "name": "db1",
    "type": "Microsoft.Network/networkInterfaces",
    "ipConfigurations": [
      {"name": "ipconfig1", "privateIpAddress": "10.1.1.4",
       "subnet": {"id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/VNet2/subnets/default"}}
    ],
    "networkSecurityGroup": {"id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/networkSecurityGroups/DbNsg"}
  }
]"#;

const NSGS: &str = r#"[
  {
    "id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/SubnetNsg",
    "name": "SubnetNsg",
    "type": "Microsoft.Network/networkSecurityGroups",
    "securityRules": [
      {"name": "AllowWeb", "priority": 100, "direction": "Inbound", "access": "Allow",
       "protocol": "TCP", "sourceAddressPrefix": "INTERNET", "sourceAddressPrefixes": [],
       "sourcePortRange": "*", "destinationPortRange": "", "destinationPortRanges": ["80", "443 "],
       "destinationApplicationSecurityGroups": [{"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/AsgWeb"}],
       "destinationAddressPrefixes": []}
    ],
    "defaultSecurityRules": [
      {"name": "AllowVnetInBound", "priority": 65000, "direction": "Inbound", "access": "Allow", "protocol": "*",
       "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork",
       "sourcePortRange": "*", "destinationPortRange": "*"}
    ]
  },
  {
    "id": "/subscriptions/s1/resourceGroups/rg2/providers/Microsoft.Network/networkSecurityGroups/DbNsg",
    "name": "DbNsg",
    "type": "Microsoft.Network/networkSecurityGroups",
    "properties": {
      "securityRules": [
        {"name": "AllowSqlFromWeb",
         "properties": {"priority": 100, "direction": "inbound", "access": "allow", "protocol": "tcp",
           "sourceAddressPrefixes": ["10.0.1.4", "10.0.1.5"], "sourcePortRange": "*",
           "destinationAddressPrefix": "*", "destinationPortRange": "1433"}},
        {"name": "DenyRest",
         "properties": {"priority": 200, "direction": "Inbound", "access": "Deny", "protocol": "*",
           "sourceAddressPrefix": "*", "sourcePortRange": "*",
           "destinationAddressPrefix": "*", "destinationPortRange": "*"}}
      ]
    }
  }
]"#;

const ASGS: &str = r#"[
  {"id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/AsgWeb",
   "name": "AsgWeb", "type": "Microsoft.Network/applicationSecurityGroups"}
]"#;

#[test]
fn az_list_outputs_make_one_policy() {
    let d = dir("az");
    write(&d, "vnets.json", VNETS);
    write(&d, "nics.json", NICS);
    write(&d, "nsgs.json", NSGS);
    write(&d, "asgs.json", ASGS);
    let i = run(std::slice::from_ref(&d));
    let p = &i.policy;
    assert_eq!(p.vnets.len(), 2);
    assert_eq!(p.subnets.len(), 2, "{}", notes(&i));
    // Subnet names repeat across VNets: the second is qualified.
    assert_eq!(p.subnets[0].name, "default");
    assert_eq!(p.subnets[1].name, "VNet2-default");
    assert!(i
        .report
        .notes
        .iter()
        .any(|n| n.kind == NoteKind::Renamed && n.message.contains("VNet2-default")));
    // Peered both ways.
    assert_eq!(p.vnets[0].peerings, vec![1]);
    assert_eq!(p.vnets[1].peerings, vec![0]);
    // Both IP configurations; the ASG of the first is the NIC's.
    let web = p.nic_by_name("web1").unwrap();
    assert_eq!(p.nics[web].ips.len(), 2);
    assert_eq!(p.nics[web].asgs, vec![p.asg_by_name("AsgWeb").unwrap()]);
    let db = p.nic_by_name("db1").unwrap();
    assert_eq!(p.nics[db].nsg, p.nsg_by_name("DbNsg"));
    assert_eq!(p.subnets[0].nsg, p.nsg_by_name("SubnetNsg"));
    // The rule: INTERNET, TCP, the empty singular and trailing space ignored,
    // default rules not imported as user rules.
    let g = &p.nsgs[p.nsg_by_name("SubnetNsg").unwrap()];
    let user: Vec<_> = g.inbound.iter().filter(|r| !r.is_default).collect();
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].destination_ports.to_string(), "80,443");
    assert!(matches!(user[0].destination, Side::Asgs(_)));
    assert_eq!(p.user_rule_count(), 3);
    // And it evaluates: Internet to web1:443 allowed by the subnet NSG.
    let pkt = Packet {
        protocol: 6,
        src: "8.8.8.8".parse().unwrap(),
        dst: "10.0.1.4".parse().unwrap(),
        src_port: Some(50000),
        dst_port: Some(443),
    };
    let v = evaluate(p, web, Direction::Inbound, &pkt);
    assert_eq!(v.access, Access::Allow);
    let pkt = Packet {
        dst: "10.1.1.4".parse().unwrap(),
        dst_port: Some(1433),
        ..pkt
    };
    assert_eq!(
        evaluate(p, db, Direction::Inbound, &pkt).access,
        Access::Deny
    );
    assert!(i.report.count(NoteKind::Skipped) == 0, "{}", notes(&i));
}

#[test]
fn nsg_alone_imports_and_reports_missing_topology() {
    let d = dir("nsg-alone");
    let f = write(&d, "nsgs.json", NSGS);
    let i = run(&[f]);
    assert_eq!(i.policy.nsgs.len(), 2);
    assert_eq!(i.policy.user_rule_count(), 3);
    // The ASG a rule names exists, without members.
    assert_eq!(i.policy.asgs.len(), 1);
    assert!(i.policy.nics.is_empty() && i.policy.vnets.is_empty());
    let n = notes(&i);
    assert!(n.contains("missing topology: asg 'AsgWeb'"), "{n}");
    assert!(n.contains("applied to no subnet or NIC"), "{n}");
}

#[test]
fn api_shapes_rest_list_and_example() {
    let d = dir("api");
    let rest = format!(r#"{{"value": {NSGS}}}"#);
    let a = write(&d, "list.json", &rest);
    let example = format!(
        r#"{{"parameters": {{"api-version": "2024-05-01"}}, "responses": {{"200": {{"body": {}}}}}}}"#,
        &NSGS[NSGS.find("{").unwrap()..NSGS.find("\n  },").unwrap() + 4]
    );
    let b = write(&d, "example.json", &example);
    assert_eq!(run(&[a]).policy.nsgs.len(), 2);
    let i = run(&[b]);
    assert_eq!(i.policy.nsgs.len(), 1);
    assert_eq!(i.policy.nsgs[0].name, "SubnetNsg");
}

#[test]
fn invalid_rules_are_left_out_and_named() {
    let d = dir("invalid");
    let f = write(
        &d,
        "nsg.json",
        r#"{"name": "G", "type": "Microsoft.Network/networkSecurityGroups",
            "properties": {"securityRules": [
              {"name": "low", "properties": {"priority": 5, "direction": "Inbound", "access": "Allow",
                "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                "destinationPortRange": "22"}},
              {"name": "dup", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow",
                "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                "destinationPortRange": "22"}},
              {"name": "dup", "properties": {"priority": 101, "direction": "Inbound", "access": "Allow",
                "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                "destinationPortRange": "23"}},
              {"name": "noports", "properties": {"priority": 102, "direction": "Inbound", "access": "Allow",
                "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"}},
              {"name": "ok", "properties": {"priority": 103, "direction": "Outbound", "access": "Deny",
                "protocol": "Udp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "1.1.1.1/32",
                "destinationPortRange": "53"}}
            ]}}"#,
    );
    let i = run(&[f]);
    let names: Vec<&str> = i.policy.nsgs[0]
        .inbound
        .iter()
        .chain(&i.policy.nsgs[0].outbound)
        .filter(|r| !r.is_default)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["dup", "ok"]);
    let n = notes(&i);
    assert!(
        n.contains("rule 'low': priority 5 is outside 100..=4096"),
        "{n}"
    );
    assert!(n.contains("a second rule named 'dup'"), "{n}");
    assert!(
        n.contains("rule 'noports': field properties.destinationPortRange: missing"),
        "{n}"
    );
    assert_eq!(i.report.count(NoteKind::Skipped), 3);
}

const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "prefix": {"type": "string", "defaultValue": "web"},
    "sshSource": {"type": "string"},
    "nicCount": {"type": "int", "defaultValue": 2}
  },
  "variables": {
    "nsgName": "[concat(parameters('prefix'), '-nsg')]",
    "subnetId": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'web')]"
  },
  "resources": [
    {
      "type": "Microsoft.Network/networkSecurityGroups",
      "name": "[variables('nsgName')]",
      "properties": {
        "securityRules": [
          {"name": "ssh", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow",
            "protocol": "Tcp", "sourceAddressPrefix": "[parameters('sshSource')]", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "22"}},
          {"name": "subnet", "properties": {"priority": 110, "direction": "Inbound", "access": "Allow",
            "protocol": "Tcp", "sourceAddressPrefix": "[reference(variables('subnetId')).addressPrefix]",
            "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443"}},
          {"name": "http", "properties": {"priority": "[add(100, 20)]", "direction": "Inbound", "access": "Allow",
            "protocol": "Tcp", "sourceAddressPrefix": "Internet", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "[string(80)]"}}
        ]
      }
    },
    {
      "type": "Microsoft.Network/virtualNetworks",
      "name": "vnet",
      "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "web", "properties": {"addressPrefix": "10.0.1.0/24",
          "networkSecurityGroup": {"id": "[resourceId('Microsoft.Network/networkSecurityGroups', variables('nsgName'))]"}}}]
      }
    },
    {
      "type": "Microsoft.Network/networkInterfaces",
      "name": "[concat('nic', copyIndex())]",
      "copy": {"name": "nics", "count": "[parameters('nicCount')]"},
      "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
        "privateIPAllocationMethod": "[if(equals(copyIndex(), 0), 'Static', 'Dynamic')]",
        "privateIPAddress": "[if(equals(copyIndex(), 0), '10.0.1.10', json('null'))]",
        "subnet": {"id": "[variables('subnetId')]"}}}]}
    }
  ]
}"#;

#[test]
fn templates_evaluate_skip_and_report() {
    let d = dir("template");
    let f = write(&d, "azuredeploy.json", TEMPLATE);
    let i = run(std::slice::from_ref(&f));
    let p = &i.policy;
    assert_eq!(p.nsgs.len(), 1);
    assert_eq!(p.nsgs[0].name, "web-nsg");
    let user: Vec<&str> = p.nsgs[0]
        .inbound
        .iter()
        .filter(|r| !r.is_default)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(user, ["http"], "{}", notes(&i));
    assert_eq!(p.nsgs[0].inbound[0].priority, 120);
    // The subnet links to the NSG through resourceId().
    assert_eq!(p.subnets[0].nsg, Some(0));
    // nic0 has a literal IP, nic1 is dynamic: reported, not invented.
    assert_eq!(p.nics.len(), 1);
    assert_eq!(p.nics[0].name, "nic0");
    let n = notes(&i);
    assert!(
        n.contains("resource Microsoft.Network/networkSecurityGroups 'web-nsg' rule 'ssh': field properties.sourceAddressPrefix `[parameters('sshSource')]` cannot be evaluated: parameter 'sshSource' has no default value"),
        "{n}"
    );
    assert!(
        n.contains("rule 'subnet': field properties.sourceAddressPrefix `[reference(variables('subnetId')).addressPrefix]` cannot be evaluated: reference()"),
        "{n}"
    );
    assert!(n.contains(&format!("{}: missing topology: resource Microsoft.Network/networkInterfaces 'nic1' (copy index 1): no private IP address", f.display())), "{n}");

    // --param gives the missing value and overrides a default.
    let opts = ImportOptions {
        params: vec![
            ("sshSource".into(), "203.0.113.0/24".into()),
            ("prefix".into(), "app".into()),
            ("nicCount".into(), "1".into()),
        ],
        ..ImportOptions::default()
    };
    let i = import(&[f], &opts).unwrap();
    assert_eq!(i.policy.nsgs[0].name, "app-nsg");
    assert_eq!(i.policy.user_rule_count(), 2);
    assert_eq!(i.report.count(NoteKind::Missing), 0, "{}", notes(&i));
}

#[test]
fn malformed_json_is_refused_with_file_line_and_column() {
    let d = dir("malformed");
    let good = write(&d, "a.json", NSGS);
    let bad = write(&d, "b.json", "{\n  \"name\": \"x\",\n  \"type\": ,\n}\n");
    let e = import(&[good, bad.clone()], &ImportOptions::default()).unwrap_err();
    assert_eq!(e.faults.len(), 1);
    let f = &e.faults[0];
    assert_eq!(f.file, bad);
    assert_eq!(f.position, Some((3, 11)));
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "{}:3:11: malformed JSON: expected value",
            bad.display()
        )),
        "{text}"
    );
    // A directory with no JSON is refused too.
    let empty = dir("empty");
    assert!(import(&[empty], &ImportOptions::default()).is_err());
}
