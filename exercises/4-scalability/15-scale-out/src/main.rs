//! A cart node of exercise 15: `scale-out --id n4 --peers n1=..,n2=..,n3=.. --
//! --ring n1,n2,n3` joins the ring of n1..n3; its other flags after `--` are `--workers`,
//! `--service-time-ms` (the fixed cost of a request at its owner), `--max-queue`,
//! `--forward-timeout-ms` and `--handoff-every-ms`.

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: scale_out::Flags| async move {
        let node = scale_out::Node::start(&ctx, flags).await?;
        Ok(node.routes())
    })
}
