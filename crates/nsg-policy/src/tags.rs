//! Service tags: the five built into nsg (computed per evaluated NIC) and the
//! ones read from Azure's ServiceTags JSON (`ServiceTags_Public_*.json`).

use crate::prefix::AddrSet;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The Azure host's virtual IP: DNS, DHCP, health probes.
pub const AZURE_HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16));
/// The instance metadata service.
pub const AZURE_IMDS_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));

/// Tags whose addresses nsg computes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinTag {
    /// The evaluated NIC's VNet address space, its peers' and its on-premises prefixes.
    VirtualNetwork,
    /// 168.63.129.16/32.
    AzureLoadBalancer,
    /// Everything neither in `VirtualNetwork` nor private or special-use.
    Internet,
    /// 168.63.129.16/32.
    AzurePlatformDns,
    /// 169.254.169.254/32.
    AzurePlatformImds,
}

impl BuiltinTag {
    /// Recognise a built-in tag name or classic alias, case-insensitively.
    pub fn parse(s: &str) -> Option<BuiltinTag> {
        match s.to_ascii_lowercase().as_str() {
            "virtualnetwork" | "virtual_network" => Some(BuiltinTag::VirtualNetwork),
            "azureloadbalancer" | "azure_loadbalancer" => Some(BuiltinTag::AzureLoadBalancer),
            "internet" => Some(BuiltinTag::Internet),
            "azureplatformdns" => Some(BuiltinTag::AzurePlatformDns),
            "azureplatformimds" => Some(BuiltinTag::AzurePlatformImds),
            _ => None,
        }
    }

    /// Azure's spelling.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinTag::VirtualNetwork => "VirtualNetwork",
            BuiltinTag::AzureLoadBalancer => "AzureLoadBalancer",
            BuiltinTag::Internet => "Internet",
            BuiltinTag::AzurePlatformDns => "AzurePlatformDNS",
            BuiltinTag::AzurePlatformImds => "AzurePlatformIMDS",
        }
    }
}

/// Private and special-use space, never part of `Internet`.
pub fn special_use() -> &'static AddrSet {
    static SET: OnceLock<AddrSet> = OnceLock::new();
    SET.get_or_init(|| {
        let nets: Vec<IpNet> = [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "::/128",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
            "ff00::/8",
        ]
        .iter()
        // Literal, valid prefixes.
        .map(|s| s.parse().expect("valid literal prefix"))
        .collect();
        AddrSet::from_nets(&nets)
    })
}

/// A tag read from a service tags file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTag {
    /// The name as the file spells it, e.g. `Storage.WestUS`.
    pub name: String,
    /// Its prefixes, IPv4 and IPv6.
    pub prefixes: Vec<IpNet>,
    /// `None` when the file gives null (no restriction).
    pub network_features: Option<Vec<String>>,
}

impl ServiceTag {
    /// Whether the tag may appear in an NSG rule.
    pub fn usable_in_nsg(&self) -> bool {
        match &self.network_features {
            None => true,
            Some(f) => f.iter().any(|x| x.eq_ignore_ascii_case("NSG")),
        }
    }
}

/// The tags of one ServiceTags JSON file, looked up case-insensitively.
#[derive(Debug, Clone)]
pub struct ServiceTagsFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// The cloud the file is for (`Public`, ...).
    pub cloud: String,
    /// The file's `changeNumber`, which grows with each release.
    pub change_number: u64,
    tags: Vec<Arc<ServiceTag>>,
    index: HashMap<String, usize>,
}

/// A service tags file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TagsError {
    #[error("cannot read service tags file {path}: {source}")]
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("service tags file {path} is larger than {}, the limit for a service tags file", crate::limits::Size(*limit))]
    /// The file is larger than the limit for a service tags file.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    #[error("service tags file {path} is not ServiceTags JSON: {source}")]
    /// The file is not ServiceTags JSON.
    Json {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    #[error("service tags file {path}: tag {tag}: bad prefix {prefix:?}")]
    /// A tag holds a prefix that does not parse.
    Prefix {
        /// The file.
        path: PathBuf,
        /// The tag.
        tag: String,
        /// The prefix as written.
        prefix: String,
    },
}

#[derive(Deserialize)]
struct FileJson<'a> {
    #[serde(default, rename = "changeNumber")]
    change_number: u64,
    #[serde(default, borrow)]
    cloud: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    values: Vec<ValueJson<'a>>,
}

#[derive(Deserialize)]
struct ValueJson<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    properties: PropsJson<'a>,
}

#[derive(Deserialize)]
struct PropsJson<'a> {
    #[serde(default, rename = "addressPrefixes", borrow)]
    address_prefixes: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "networkFeatures")]
    network_features: Option<Vec<String>>,
}

impl ServiceTagsFile {
    /// Read a file of at most [`crate::limits::MAX_SERVICE_TAGS_BYTES`].
    pub fn load(path: &Path) -> Result<ServiceTagsFile, TagsError> {
        use crate::limits::{read_bounded, ReadError, MAX_SERVICE_TAGS_BYTES};
        let bytes = match read_bounded(path, MAX_SERVICE_TAGS_BYTES, "a service tags file") {
            Ok(b) => b,
            Err(ReadError::TooLarge { path, limit, .. }) => {
                return Err(TagsError::TooLarge { path, limit })
            }
            Err(ReadError::Io { path, source }) => return Err(TagsError::Io { path, source }),
        };
        let text = String::from_utf8(bytes).map_err(|e| TagsError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Self::parse(&text, path)
    }

    /// Parse ServiceTags JSON text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ServiceTagsFile, TagsError> {
        let json: FileJson = serde_json::from_str(text).map_err(|source| TagsError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let mut tags = Vec::with_capacity(json.values.len());
        let mut index = HashMap::with_capacity(json.values.len());
        for v in json.values {
            let mut prefixes = Vec::with_capacity(v.properties.address_prefixes.len());
            for p in &v.properties.address_prefixes {
                let net = parse_prefix(p.trim()).ok_or_else(|| TagsError::Prefix {
                    path: path.to_path_buf(),
                    tag: v.name.to_string(),
                    prefix: p.to_string(),
                })?;
                prefixes.push(net);
            }
            index.insert(v.name.to_ascii_lowercase(), tags.len());
            tags.push(Arc::new(ServiceTag {
                name: v.name.into_owned(),
                prefixes,
                network_features: v.properties.network_features,
            }));
        }
        Ok(ServiceTagsFile {
            path: path.to_path_buf(),
            cloud: json.cloud.map(|c| c.into_owned()).unwrap_or_default(),
            change_number: json.change_number,
            tags,
            index,
        })
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether the file holds no tag.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Number of prefixes over all tags.
    pub fn prefix_count(&self) -> usize {
        self.tags.iter().map(|t| t.prefixes.len()).sum()
    }

    /// Look a tag up by name, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Arc<ServiceTag>> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.tags[i])
    }

    /// Every tag, in file order.
    pub fn tags(&self) -> impl Iterator<Item = &Arc<ServiceTag>> {
        self.tags.iter()
    }
}

/// Parse a prefix as Azure writes it: a CIDR, or a bare address meaning a host prefix.
/// Host bits are truncated (Azure's files never carry them; a policy's own
/// prefixes are checked more strictly by the loader).
fn parse_prefix(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_file() {
        let text = r#"{"changeNumber": 3, "cloud": "Public", "values": [
          {"name": "Storage.WestUS", "id": "Storage.WestUS", "properties": {"addressPrefixes": ["20.0.0.0/24", "2603:1030::/48"], "networkFeatures": null}},
          {"name": "OnlyApi", "properties": {"addressPrefixes": ["1.2.3.0/24"], "networkFeatures": ["API"]}}
        ]}"#;
        let f = ServiceTagsFile::parse(text, Path::new("t.json")).unwrap();
        assert_eq!(f.len(), 2);
        let t = f.get("storage.westus").unwrap();
        assert_eq!(t.name, "Storage.WestUS");
        assert_eq!(t.prefixes.len(), 2);
        assert!(t.usable_in_nsg());
        assert!(!f.get("ONLYAPI").unwrap().usable_in_nsg());
        assert!(f.get("nope").is_none());
    }

    #[test]
    fn refuses_bad_json_and_bad_prefixes() {
        let e = ServiceTagsFile::parse("{", Path::new("t.json")).unwrap_err();
        assert!(e.to_string().contains("t.json"), "{e}");
        let e = ServiceTagsFile::parse(
            r#"{"values":[{"name":"X","properties":{"addressPrefixes":["1.2.3.300/24"]}}]}"#,
            Path::new("t.json"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("1.2.3.300/24"), "{e}");
    }

    #[test]
    fn builtin_names_and_aliases() {
        assert_eq!(
            BuiltinTag::parse("VIRTUAL_NETWORK"),
            Some(BuiltinTag::VirtualNetwork)
        );
        assert_eq!(
            BuiltinTag::parse("azure_loadbalancer"),
            Some(BuiltinTag::AzureLoadBalancer)
        );
        assert_eq!(BuiltinTag::parse("INTERNET"), Some(BuiltinTag::Internet));
        assert_eq!(
            BuiltinTag::parse("AzurePlatformDns"),
            Some(BuiltinTag::AzurePlatformDns)
        );
        assert_eq!(BuiltinTag::parse("Storage"), None);
        assert!(special_use().contains(&"192.168.1.1".parse().unwrap()));
        assert!(!special_use().contains(&"8.8.8.8".parse().unwrap()));
    }
}
