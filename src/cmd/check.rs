//! `nsg check POLICY`.

use super::{load_policy, CmdResult};
use crate::PolicyArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn run(a: Args) -> CmdResult {
    let p = load_policy(&a.policy)?;
    let rules = p.user_rule_count();
    let tags: usize = p.tag_files.iter().map(|(_, n)| n).sum();
    println!("{}: ok", p.file.display());
    println!("  vnets    {}", p.vnets.len());
    println!("  subnets  {}", p.subnets.len());
    println!("  nics     {}", p.nics.len());
    println!("  asgs     {}", p.asgs.len());
    println!("  nsgs     {}", p.nsgs.len());
    println!("  rules    {rules} (plus {} default)", p.nsgs.len() * 6);
    println!(
        "  tags     {tags} from {} service tags file(s)",
        p.tag_files.len()
    );
    Ok(())
}
