//! `nsg check POLICY`.

use super::{load_policy, CmdResult};
use crate::PolicyArgs;
use nsg_classify::nsg::CompiledPolicy;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn run(a: Args) -> CmdResult {
    let t0 = Instant::now();
    let p = Arc::new(load_policy(&a.policy)?);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let c = CompiledPolicy::build(p.clone());
    let compile_ms = t1.elapsed().as_secs_f64() * 1e3;
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
    println!("  loaded   in {load_ms:.1} ms");
    println!(
        "  compiled {} matchers in {compile_ms:.1} ms, {} KiB",
        c.matcher_count(),
        c.memory_bytes() / 1024
    );
    Ok(())
}
