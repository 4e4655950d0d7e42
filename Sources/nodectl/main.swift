import NodectlKit

await Nodectl.main()
