import NodectlKit

await Nodectl.runAsRoot()
