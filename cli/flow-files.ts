/** Deploying flow files in dependency order (deploy, serve): the ordering lives in shared/definitions/deploy.ts, which the definitions-deployer function uses too. */
export { deployInOrder } from '#shared/definitions/deploy';
