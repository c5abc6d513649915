// Copies the files of one installed package that its entry points load into a function asset's
// node_modules: `node infra/copy-lazy-module.mjs <projectDir> <assetDir> <package>`. Run by
// IvrflowFunction after bundling, for each of the function's lazy modules (external packages a
// rare path loads with `import()` or `require()`). What is copied is what esbuild reaches from the
// package's `require` and `import` entries (its metafile: scripts and JSON), plus its package.json
// files (the package's own and any nested one above a copied file, which sets the module type),
// never the package's types, sources, other builds or docs (libphonenumber-js: 952 files, 13 MB,
// of which its two entries load 200 files, 1 MB). The files keep their paths, so Node resolves and
// loads the package in the asset exactly as in the project. Dependencies are lazy modules of their own.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The package's files that its entries load, as paths relative to `projectDir`.
 * @param projectDir the directory holding `node_modules` (and esbuild)
 * @param name the package name, e.g. `libphonenumber-js` or `@hpcc-js/wasm-graphviz`
 * @throws Error when the package or esbuild cannot be found, or an entry does not build
 */
export function lazyModuleFiles(projectDir, name) {
  const { buildSync } = createRequire(join(projectDir, 'package.json'))('esbuild');
  const root = `node_modules/${name}/`;
  const files = new Set([`${root}package.json`]);
  for (const format of ['cjs', 'esm']) {
    const { metafile } = buildSync({
      stdin: { contents: format === 'cjs' ? `require(${JSON.stringify(name)})` : `import(${JSON.stringify(name)})`, resolveDir: projectDir },
      absWorkingDir: projectDir,
      bundle: true,
      platform: 'node',
      format,
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['node:*'],
    });
    for (const input of Object.keys(metafile.inputs)) if (input.startsWith(root)) files.add(input);
  }
  // A nested package.json (`"type": "commonjs"` of a build folder) decides how Node loads the files under it: keep each one above a copied file.
  for (const file of [...files]) {
    for (let dir = dirname(file); dir.length > root.length - 1; dir = dirname(dir)) {
      if (existsSync(join(projectDir, dir, 'package.json'))) files.add(`${dir}/package.json`);
    }
  }
  return [...files].sort();
}

/** Copies {@link lazyModuleFiles} of `name` from `projectDir` into `assetDir`, keeping their paths. @returns the files copied */
export function copyLazyModule(projectDir, assetDir, name) {
  const files = lazyModuleFiles(projectDir, name);
  for (const file of files) {
    mkdirSync(dirname(join(assetDir, file)), { recursive: true });
    copyFileSync(join(projectDir, file), join(assetDir, file));
  }
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [projectDir, assetDir, name] = process.argv.slice(2);
  if (!projectDir || !assetDir || !name) {
    process.stderr.write('usage: node infra/copy-lazy-module.mjs <projectDir> <assetDir> <package>\n');
    process.exit(2);
  }
  copyLazyModule(projectDir, assetDir, name);
}
