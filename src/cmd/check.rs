//! `nsg check POLICY`.

use super::{load_policy, CmdResult, Out};
use crate::PolicyArgs;
use nsg_classify::nsg::CompiledPolicy;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn run(a: Args, out: &mut Out) -> CmdResult {
    let t0 = Instant::now();
    let p = Arc::new(load_policy(&a.policy)?);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let c = CompiledPolicy::build(p.clone());
    let compile_ms = t1.elapsed().as_secs_f64() * 1e3;
    let rules = p.user_rule_count();
    let tags: usize = p.tag_files.iter().map(|(_, n)| n).sum();
    writeln!(out, "{}: ok", p.file.display())?;
    writeln!(out, "  vnets    {}", p.vnets.len())?;
    writeln!(out, "  subnets  {}", p.subnets.len())?;
    writeln!(out, "  nics     {}", p.nics.len())?;
    writeln!(out, "  asgs     {}", p.asgs.len())?;
    writeln!(out, "  nsgs     {}", p.nsgs.len())?;
    writeln!(
        out,
        "  rules    {rules} (plus {} default)",
        p.nsgs.len() * 6
    )?;
    writeln!(
        out,
        "  tags     {tags} from {} service tags file(s)",
        p.tag_files.len()
    )?;
    writeln!(out, "  loaded   in {load_ms:.1} ms")?;
    writeln!(
        out,
        "  compiled {} matchers in {compile_ms:.1} ms, {} KiB",
        c.matcher_count(),
        c.memory_bytes() / 1024
    )?;
    Ok(())
}
