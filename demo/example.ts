// `./rx example` — prints a freshly signed demo prescription, ready for curl -d @-.
import { demoPrescription } from './prescriptions';

console.log(JSON.stringify(demoPrescription({ rxNo: process.argv[2] }), null, 2));
